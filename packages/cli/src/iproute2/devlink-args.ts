/**
 * `devlink …` command lines (devlink/devlink.c: dl_argv_parse, cmd_dev_*, cmd_port_*) → what to ask
 * the kernel. Errors carry iproute2's texts; devlink exits 1 on every command-line error.
 */
import type { DevlinkHandle } from '@xfrmkit/core';
import type { IproutePersona } from './xfrm.ts';

export class DevlinkArgError extends Error {
  override readonly name = 'DevlinkArgError';
}

export type DevlinkPlan =
  | { kind: 'dev-show'; handle?: DevlinkHandle }
  | { kind: 'eswitch-show'; handle: DevlinkHandle }
  | { kind: 'eswitch-set'; handle: DevlinkHandle; mode?: number; inlineMode?: number; encapMode?: number }
  | { kind: 'param-show'; handle?: DevlinkHandle; name?: string }
  | { kind: 'param-set'; handle: DevlinkHandle; name: string; value: string; cmode: number }
  | { kind: 'info'; handle?: DevlinkHandle }
  | { kind: 'reload'; handle: DevlinkHandle; action?: number; limit?: number }
  | { kind: 'port-show'; handle?: DevlinkHandle; index?: number; netdev?: string }
  | {
      kind: 'port-fn-set';
      handle: DevlinkHandle;
      index: number;
      hwAddr?: Uint8Array;
      state?: number;
      caps?: { roce?: boolean; migratable?: boolean; ipsecCrypto?: boolean; ipsecPacket?: boolean };
      maxIoEqs?: number;
    };

export const ESWITCH_MODES: Record<string, number> = { legacy: 0, switchdev: 1, switchdev_inactive: 2 };
export const INLINE_MODES: Record<string, number> = { none: 0, link: 1, network: 2, transport: 3 };
export const ENCAP_MODES: Record<string, number> = { none: 0, basic: 1 };
export const CMODES: Record<string, number> = { runtime: 0, driverinit: 1, permanent: 2 };
export const RELOAD_ACTIONS: Record<string, number> = { driver_reinit: 1, fw_activate: 2 };
export const RELOAD_LIMITS: Record<string, number> = { no_reset: 1 };

const matches = (word: string, full: string) => word.length > 0 && full.startsWith(word);

/** str_to_bool(): true/false, 1/0, enable/disable. */
export function strToBool(s: string): boolean | undefined {
  if (s === 'true' || s === '1' || s === 'enable') return true;
  if (s === 'false' || s === '0' || s === 'disable') return false;
  return undefined;
}

function handleOf(s: string | undefined, withPort: false): DevlinkHandle;
function handleOf(s: string | undefined, withPort: true): DevlinkHandle & { index: number };
function handleOf(s: string | undefined, withPort: boolean): DevlinkHandle & { index?: number } {
  if (s === undefined) {
    throw new DevlinkArgError(
      withPort
        ? 'Port identification ("bus_name/dev_name/port_index" or "netdev ifname") expected.'
        : 'Devlink identification ("bus_name/dev_name") expected',
    );
  }
  const parts = s.split('/');
  if (withPort) {
    if (parts.length !== 3 || !parts[0] || !parts[1] || !/^\d+$/.test(parts[2]!)) {
      throw new DevlinkArgError(
        'Wrong port identification string format.\nExpected "bus_name/dev_name/port_index".',
      );
    }
    return { bus: parts[0], dev: parts[1], index: Number(parts[2]) };
  }
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new DevlinkArgError('Wrong devlink identification string format.\nExpected "bus_name/dev_name".');
  }
  return { bus: parts[0], dev: parts[1] };
}

/** Cursor with devlink's "collect unknown words" behaviour. */
class Words {
  i = 0;
  constructor(readonly w: string[]) {}
  get cur(): string | undefined {
    return this.w[this.i];
  }
  take(): string | undefined {
    return this.w[this.i++];
  }
  value(key: string): string {
    const v = this.w[this.i++];
    if (v === undefined) throw new DevlinkArgError(`Value of "${key}" is missing.`);
    return v;
  }
}

function parseOptions(w: Words, allowed: Record<string, (v: Words) => void>): void {
  while (w.cur !== undefined) {
    const k = w.take()!;
    const f = allowed[k];
    if (!f) throw new DevlinkArgError(`Unknown option "${k}"`);
    f(w);
  }
}

function mapped(table: Record<string, number>, what: string, v: string): number {
  const n = table[v];
  if (n === undefined) throw new DevlinkArgError(`Unknown ${what} "${v}"`);
  return n;
}

function parseMac(s: string): Uint8Array {
  const parts = s.split(':');
  if (parts.length < 1 || parts.length > 32 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new DevlinkArgError(`"${s}" is not a valid hardware address`);
  }
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

/** Parses the words after `devlink [OPTIONS]`. */
export function parseDevlink(argv: string[], persona: IproutePersona): DevlinkPlan {
  const w = new Words(argv);
  const obj = w.take();
  if (obj === undefined) throw new DevlinkArgError('Object "" not found');
  if (matches(obj, 'dev')) return parseDev(w, persona);
  if (matches(obj, 'port')) return parsePort(w, persona);
  throw new DevlinkArgError(`Object "${obj}" not found`);
}

function parseDev(w: Words, persona: IproutePersona): DevlinkPlan {
  const verb = w.take();
  if (verb === undefined || matches(verb, 'show') || matches(verb, 'list')) {
    const h = w.cur === undefined ? undefined : handleOf(w.take(), false);
    if (w.cur !== undefined) throw new DevlinkArgError(`Unknown option "${w.cur}"`);
    return h ? { kind: 'dev-show', handle: h } : { kind: 'dev-show' };
  }
  if (matches(verb, 'eswitch')) {
    const sub = w.take();
    if (sub !== undefined && matches(sub, 'show')) {
      const handle = handleOf(w.take(), false);
      if (w.cur !== undefined) throw new DevlinkArgError(`Unknown option "${w.cur}"`);
      return { kind: 'eswitch-show', handle };
    }
    if (sub !== undefined && matches(sub, 'set')) {
      const plan: Extract<DevlinkPlan, { kind: 'eswitch-set' }> = {
        kind: 'eswitch-set',
        handle: handleOf(w.take(), false),
      };
      const modes = persona === '6.1' ? { legacy: 0, switchdev: 1 } : ESWITCH_MODES;
      const encap = (x: Words) => {
        const v = x.value('encap-mode');
        // "encap-mode none|basic"; the older "encap enable|disable" spelling is still accepted
        const b = ENCAP_MODES[v] ?? (strToBool(v) === undefined ? undefined : strToBool(v) ? 1 : 0);
        if (b === undefined) throw new DevlinkArgError(`Unknown encap mode "${v}"`);
        plan.encapMode = b;
      };
      parseOptions(w, {
        mode: (x) => {
          plan.mode = mapped(modes, 'eswitch mode', x.value('mode'));
        },
        'inline-mode': (x) => {
          plan.inlineMode = mapped(INLINE_MODES, 'inline mode', x.value('inline-mode'));
        },
        'encap-mode': encap,
        encap,
      });
      if (plan.mode === undefined && plan.inlineMode === undefined && plan.encapMode === undefined) {
        throw new DevlinkArgError('Need to set at least one option');
      }
      return plan;
    }
    throw new DevlinkArgError(`Command "${sub ?? ''}" not found`);
  }
  if (matches(verb, 'param')) {
    const sub = w.take();
    if (sub === undefined || matches(sub, 'show') || matches(sub, 'list')) {
      if (w.cur === undefined) return { kind: 'param-show' };
      const handle = handleOf(w.take(), false);
      if (w.cur === undefined) {
        if (persona === '6.1') throw new DevlinkArgError('Option "name" is expected.');
        return { kind: 'param-show', handle };
      }
      let name: string | undefined;
      parseOptions(w, {
        name: (x) => {
          name = x.value('name');
        },
      });
      if (name === undefined) throw new DevlinkArgError('Option "name" is expected.');
      return { kind: 'param-show', handle, name };
    }
    if (matches(sub, 'set')) {
      const handle = handleOf(w.take(), false);
      let name: string | undefined;
      let value: string | undefined;
      let cmode: number | undefined;
      parseOptions(w, {
        name: (x) => {
          name = x.value('name');
        },
        value: (x) => {
          value = x.value('value');
        },
        cmode: (x) => {
          cmode = mapped(CMODES, 'configuration mode', x.value('cmode'));
        },
      });
      if (name === undefined) throw new DevlinkArgError('Option "name" is expected.');
      if (value === undefined) throw new DevlinkArgError('Option "value" is expected.');
      if (cmode === undefined) throw new DevlinkArgError('Option "cmode" is expected.');
      return { kind: 'param-set', handle, name, value, cmode };
    }
    throw new DevlinkArgError(`Command "${sub}" not found`);
  }
  if (matches(verb, 'info')) {
    const h = w.cur === undefined ? undefined : handleOf(w.take(), false);
    if (w.cur !== undefined) throw new DevlinkArgError(`Unknown option "${w.cur}"`);
    return h ? { kind: 'info', handle: h } : { kind: 'info' };
  }
  if (matches(verb, 'reload')) {
    const plan: Extract<DevlinkPlan, { kind: 'reload' }> = {
      kind: 'reload',
      handle: handleOf(w.take(), false),
    };
    parseOptions(w, {
      action: (x) => {
        plan.action = mapped(RELOAD_ACTIONS, 'reload action', x.value('action'));
      },
      limit: (x) => {
        plan.limit = mapped(RELOAD_LIMITS, 'reload limit', x.value('limit'));
      },
    });
    return plan;
  }
  throw new DevlinkArgError(`Command "${verb}" not found`);
}

function parsePort(w: Words, persona: IproutePersona): DevlinkPlan {
  const verb = w.take();
  if (verb === undefined || matches(verb, 'show') || matches(verb, 'list')) {
    const id = w.take();
    if (w.cur !== undefined) throw new DevlinkArgError(`Unknown option "${w.cur}"`);
    if (id === undefined) return { kind: 'port-show' };
    const parts = id.split('/');
    if (parts.length === 3) {
      const h = handleOf(id, true);
      return { kind: 'port-show', handle: { bus: h.bus, dev: h.dev }, index: h.index };
    }
    if (parts.length === 2) {
      if (persona === '6.1') {
        throw new DevlinkArgError(
          'Wrong port identification string format.\nExpected "bus_name/dev_name/port_index" or "netdev_ifname".',
        );
      }
      return { kind: 'port-show', handle: handleOf(id, false) };
    }
    if (parts.length === 1) return { kind: 'port-show', netdev: id };
    throw new DevlinkArgError(
      'Wrong port identification string format.\nExpected "bus_name/dev_name/port_index" or "netdev_ifname".',
    );
  }
  if (matches(verb, 'function')) {
    const sub = w.take();
    if (sub === undefined || !matches(sub, 'set'))
      throw new DevlinkArgError(`Command "${sub ?? ''}" not found`);
    const h = handleOf(w.take(), true);
    const plan: Extract<DevlinkPlan, { kind: 'port-fn-set' }> = {
      kind: 'port-fn-set',
      handle: { bus: h.bus, dev: h.dev },
      index: h.index,
    };
    const cap = (key: 'roce' | 'migratable' | 'ipsecCrypto' | 'ipsecPacket', word: string) => (x: Words) => {
      const v = x.value(word);
      const b = strToBool(v);
      if (b === undefined) throw new DevlinkArgError(`Unknown option "${v}"`);
      plan.caps = { ...plan.caps, [key]: b };
    };
    const opts: Record<string, (x: Words) => void> = {
      hw_addr: (x) => {
        plan.hwAddr = parseMac(x.value('hw_addr'));
      },
      state: (x) => {
        const v = x.value('state');
        if (v === 'active') plan.state = 1;
        else if (v === 'inactive') plan.state = 0;
        else throw new DevlinkArgError(`Unknown port function state "${v}"`);
      },
      roce: cap('roce', 'roce'),
      migratable: cap('migratable', 'migratable'),
    };
    if (persona !== '6.1') {
      opts.ipsec_crypto = cap('ipsecCrypto', 'ipsec_crypto');
      opts.ipsec_packet = cap('ipsecPacket', 'ipsec_packet');
      opts.max_io_eqs = (x) => {
        const v = x.value('max_io_eqs');
        if (!/^\d+$/.test(v)) throw new DevlinkArgError(`"${v}" is not a number or not within range`);
        plan.maxIoEqs = Number(v);
      };
    }
    parseOptions(w, opts);
    return plan;
  }
  throw new DevlinkArgError(`Command "${verb}" not found`);
}
