/**
 * `xfrmkit devlink [-j] [-p] { dev … | port … }`: iproute2 devlink's grammar, output and errors
 * (6.15 by default, `--iproute2 6.1` for the older one) against the simulator or the kernel
 * (backend.ts options). Every error exits 1, as devlink does: refusals print `Error: <extack>.` and
 * `kernel answers: <strerror>`.
 */
import type { DevlinkParamData } from '@xfrmkit/core';
import {
  DEVLINK_VAR_ATTR_TYPE,
  DevlinkClient,
  type DevlinkPortInfo,
  errnoText,
  NetlinkError,
} from '@xfrmkit/netlink';
import {
  type Backend,
  BackendError,
  extractBackendOptions,
  NETLINK_GENERIC,
  openBackend,
} from '../backend.ts';
import { DevlinkArgError, type DevlinkPlan, parseDevlink, strToBool } from '../iproute2/devlink-args.ts';
import {
  type DevlinkPrintOptions,
  printDevs,
  printEswitch,
  printInfo,
  printParams,
  printPorts,
  printReload,
} from '../iproute2/print-devlink.ts';
import type { IproutePersona } from '../iproute2/xfrm.ts';

export interface DevlinkIo {
  out(s: string): void;
  err(s: string): void;
}

const stdio: DevlinkIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

const VERSION: Record<IproutePersona, string> = {
  '6.1': 'devlink utility, iproute2-6.1.0',
  '6.15': 'devlink utility, iproute2-6.15.0',
};

class DlExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** lib/mnl_utils.c: the extack line (with a final '.'), then `kernel answers: <strerror>`. */
export function devlinkErrorText(e: NetlinkError): string {
  const msg = e.extack.msg;
  const ext = msg ? `Error: ${msg}${msg.endsWith('.') ? '' : '.'}\n` : '';
  return `${ext}kernel answers: ${errnoText(e.errno)}\n`;
}

interface Globals {
  json: boolean;
  pretty: boolean;
  persona: IproutePersona;
}

function parseGlobals(argv: string[], io: DevlinkIo): { g: Globals; rest: string[] } {
  const g: Globals = { json: false, pretty: false, persona: '6.15' };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--iproute2') {
      const v = argv[++i];
      if (v !== '6.1' && v !== '6.15')
        throw new DevlinkArgError(`--iproute2 must be 6.1 or 6.15 (got "${v ?? ''}")`);
      g.persona = v;
    } else if (a === '-j' || a === '--json') g.json = true;
    else if (a === '-p' || a === '--pretty') g.pretty = true;
    else if (
      a === '-n' ||
      a === '--no-nice-names' ||
      a === '-s' ||
      a === '--statistics' ||
      a === '-v' ||
      a === '--verbose'
    ) {
      // accepted; the objects printed here do not change with them
    } else if (a === '-V' || a === '--Version') {
      io.out(`${VERSION[g.persona]}\n`);
      throw new DlExit(0);
    } else if (a.startsWith('-') && a.length > 1) {
      io.err(`devlink: invalid option -- '${a.replace(/^-+/, '')}'\n`);
      throw new DlExit(1);
    } else break;
  }
  return { g, rest: argv.slice(i) };
}

function paramValue(type: number, text: string): DevlinkParamData {
  switch (type) {
    case DEVLINK_VAR_ATTR_TYPE.FLAG: {
      const b = strToBool(text);
      if (b === undefined) throw new DevlinkArgError(`Value "${text}" is not a boolean`);
      return b;
    }
    case DEVLINK_VAR_ATTR_TYPE.U8:
    case DEVLINK_VAR_ATTR_TYPE.U16:
    case DEVLINK_VAR_ATTR_TYPE.U32: {
      const max =
        type === DEVLINK_VAR_ATTR_TYPE.U8 ? 0xff : type === DEVLINK_VAR_ATTR_TYPE.U16 ? 0xffff : 0xffffffff;
      if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text) || Number(text) > max)
        throw new DevlinkArgError('Value is not a number or not within range');
      return Number(text);
    }
    case DEVLINK_VAR_ATTR_TYPE.U64:
      if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text))
        throw new DevlinkArgError('Value is not a number or not within range');
      return BigInt(text);
    default:
      return text;
  }
}

function sameValue(a: DevlinkParamData, b: DevlinkParamData): boolean {
  if ((typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number'))
    return BigInt(a) === BigInt(b);
  return a === b;
}

async function execute(
  client: DevlinkClient,
  plan: DevlinkPlan,
  o: DevlinkPrintOptions,
  io: DevlinkIo,
): Promise<void> {
  switch (plan.kind) {
    case 'dev-show':
      io.out(printDevs(plan.handle ? [await client.devGet(plan.handle)] : await client.devList(), o));
      return;
    case 'eswitch-show':
      io.out(printEswitch(plan.handle, await client.eswitchGet(plan.handle), o));
      return;
    case 'eswitch-set': {
      const e: { mode?: number; inlineMode?: number; encapMode?: number } = {};
      if (plan.mode !== undefined) e.mode = plan.mode;
      if (plan.inlineMode !== undefined) e.inlineMode = plan.inlineMode;
      if (plan.encapMode !== undefined) e.encapMode = plan.encapMode;
      warn(io, (await client.eswitchSet(plan.handle, e)).warning);
      return;
    }
    case 'param-show': {
      const list =
        plan.name !== undefined
          ? [await client.paramGet(plan.handle!, plan.name)]
          : await client.paramList(plan.handle);
      io.out(printParams(list, o));
      return;
    }
    case 'param-set': {
      // devlink: PARAM_GET for type and current value; nothing more when unchanged
      const cur = await client.paramGet(plan.handle, plan.name, plan.cmode);
      const now = cur.values.find((v) => v.cmode === plan.cmode);
      if (!now) {
        io.err('Configuration mode not supported\n');
        throw new DlExit(1);
      }
      const value = paramValue(cur.type, plan.value);
      if (sameValue(now.data, value)) return;
      warn(
        io,
        (await client.paramSet(plan.handle, plan.name, value, plan.cmode, { type: cur.type, force: true }))
          .warning,
      );
      return;
    }
    case 'info':
      io.out(printInfo(plan.handle ? [await client.info(plan.handle)] : await client.infoList(), o));
      return;
    case 'reload': {
      const r = await client.reload(plan.handle, plan.action, plan.limit);
      warn(io, r.warning);
      io.out(printReload(r, o));
      return;
    }
    case 'port-show': {
      let ports: DevlinkPortInfo[];
      if (plan.index !== undefined) ports = [await client.portGet(plan.handle!, plan.index)];
      else if (plan.netdev !== undefined) {
        const hit = (await client.portList()).find((p) => p.netdevName === plan.netdev);
        if (!hit) {
          io.err(
            `Wrong port identification string format.\nExpected "bus_name/dev_name/port_index" or "netdev_ifname".\n`,
          );
          throw new DlExit(1);
        }
        ports = [await client.portGet(hit.handle, hit.index)];
      } else ports = await client.portList(plan.handle);
      io.out(printPorts(ports, o));
      return;
    }
    case 'port-fn-set': {
      const fn: Parameters<DevlinkClient['portFunctionSet']>[2] = {};
      if (plan.hwAddr) fn.hwAddr = plan.hwAddr;
      if (plan.state !== undefined) fn.state = plan.state;
      if (plan.caps) fn.caps = plan.caps;
      if (plan.maxIoEqs !== undefined) fn.maxIoEqs = plan.maxIoEqs;
      warn(io, (await client.portFunctionSet(plan.handle, plan.index, fn)).warning);
      return;
    }
  }
}

function warn(io: DevlinkIo, w: string | undefined): void {
  if (w) io.err(`Warning: ${w}${w.endsWith('.') ? '' : '.'}\n`);
}

/** Runs one devlink command line; `backendFor` replaces the backend (tests). */
export async function runDevlink(
  argv: string[],
  io: DevlinkIo = stdio,
  backendFor: (opts: Parameters<typeof openBackend>[0]) => Promise<Backend> = openBackend,
): Promise<number> {
  let backend: Backend | undefined;
  let client: DevlinkClient | undefined;
  try {
    const { opts, rest } = extractBackendOptions(argv);
    const { g, rest: words } = parseGlobals(rest, io);
    const plan = parseDevlink(words, g.persona);
    backend = await backendFor(opts);
    const transport = await backend.open(NETLINK_GENERIC);
    try {
      client = await DevlinkClient.open(transport, { genlVersion: g.persona === '6.1' ? 0 : 1 });
    } catch (e) {
      if (e instanceof NetlinkError) {
        io.err('Failed to connect to devlink Netlink\n');
        return 1;
      }
      throw e;
    }
    await execute(client, plan, { json: g.json, pretty: g.pretty, persona: g.persona }, io);
    return 0;
  } catch (e) {
    if (e instanceof DlExit) return e.code;
    if (e instanceof DevlinkArgError) {
      io.err(`${e.message}\n`);
      return 1;
    }
    if (e instanceof NetlinkError) {
      io.err(devlinkErrorText(e));
      return 1;
    }
    if (e instanceof BackendError) {
      io.err(`xfrmkit devlink: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    client?.close();
    await backend?.close();
  }
}

export function run(argv: string[]): Promise<number> {
  return runDevlink(argv);
}
