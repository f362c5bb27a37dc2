/**
 * iproute2 devlink's output (devlink/devlink.c pr_out_*), text and JSON, for the objects xfrmkit
 * manages: instances, eswitch, ports and their functions, params, info, reload. JSON keys and nesting
 * follow `devlink -j`; `-p` pretty-prints it.
 */
import type { DevlinkEswitch, DevlinkHandle, DevlinkInfo } from '@xfrmkit/core';
import type { DevlinkDevice, DevlinkParamInfo, DevlinkPortInfo, DevlinkReloadResult } from '@xfrmkit/netlink';
import type { IproutePersona } from './xfrm.ts';

export interface DevlinkPrintOptions {
  json: boolean;
  pretty: boolean;
  persona: IproutePersona;
}

type Json = string | number | boolean | Json[] | { [k: string]: Json };

const h = (x: DevlinkHandle) => `${x.bus}/${x.dev}`;

/** Renders a JSON document like iproute2's json_writer (one line, or 4-space pretty). */
export function renderJson(doc: Json, pretty: boolean): string {
  return `${pretty ? JSON.stringify(doc, null, 4) : JSON.stringify(doc)}\n`;
}

const ESWITCH_MODE: Record<number, string> = { 0: 'legacy', 1: 'switchdev', 2: 'switchdev_inactive' };
const INLINE_MODE: Record<number, string> = { 0: 'none', 1: 'link', 2: 'network', 3: 'transport' };
const ENCAP_MODE: Record<number, string> = { 0: 'none', 1: 'basic' };
const PORT_TYPE: Record<number, string> = { 0: 'notset', 1: 'auto', 2: 'eth', 3: 'ib' };
const FLAVOUR: Record<number, string> = {
  0: 'physical',
  1: 'cpu',
  2: 'dsa',
  3: 'pcipf',
  4: 'pcivf',
  5: 'virtual',
  6: 'unused',
  7: 'pcisf',
};
const CMODE: Record<number, string> = { 0: 'runtime', 1: 'driverinit', 2: 'permanent' };
const FN_STATE: Record<number, string> = { 0: 'inactive', 1: 'active' };
const FN_OPSTATE: Record<number, string> = { 0: 'detached', 1: 'attached' };
const RELOAD_ACTION: Record<number, string> = { 1: 'driver_reinit', 2: 'fw_activate' };

// ---------------------------------------------------------------- dev

export function printDevs(devs: DevlinkDevice[], o: DevlinkPrintOptions): string {
  if (o.json) {
    const dev: Record<string, Json> = {};
    for (const d of devs) dev[h(d.handle)] = {};
    return renderJson({ dev }, o.pretty);
  }
  return devs.map((d) => `${h(d.handle)}\n`).join('');
}

// ---------------------------------------------------------------- eswitch

export function printEswitch(handle: DevlinkHandle, e: DevlinkEswitch, o: DevlinkPrintOptions): string {
  const fields: Array<[string, string]> = [];
  if (e.mode !== undefined) fields.push(['mode', ESWITCH_MODE[e.mode] ?? '<unknown mode>']);
  if (e.inlineMode !== undefined) fields.push(['inline-mode', INLINE_MODE[e.inlineMode] ?? '<unknown mode>']);
  if (e.encapMode !== undefined) fields.push(['encap-mode', ENCAP_MODE[e.encapMode] ?? '<unknown mode>']);
  if (o.json) return renderJson({ dev: { [h(handle)]: Object.fromEntries(fields) } }, o.pretty);
  return `${h(handle)}:${fields.map(([k, v]) => ` ${k} ${v}`).join('')}\n`;
}

// ---------------------------------------------------------------- ports

const mac = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** The fields of a port as [key, value] in pr_out_port order. */
function portFields(p: DevlinkPortInfo): Array<[string, Json]> {
  const f: Array<[string, Json]> = [];
  if (p.type !== undefined) f.push(['type', PORT_TYPE[p.type] ?? String(p.type)]);
  if (p.desiredType !== undefined && p.desiredType !== p.type)
    f.push(['des_type', PORT_TYPE[p.desiredType] ?? String(p.desiredType)]);
  if (p.netdevName !== undefined) f.push(['netdev', p.netdevName]);
  if (p.ibdevName !== undefined) f.push(['ibdev', p.ibdevName]);
  if (p.flavour !== undefined) {
    f.push(['flavour', FLAVOUR[p.flavour] ?? String(p.flavour)]);
    if (p.flavour === 3 || p.flavour === 4 || p.flavour === 7) {
      if (p.controllerNumber !== undefined) f.push(['controller', p.controllerNumber]);
      if (p.pfNumber !== undefined) f.push(['pfnum', p.pfNumber]);
      if (p.flavour === 4 && p.vfNumber !== undefined) f.push(['vfnum', p.vfNumber]);
      if (p.flavour === 7 && p.sfNumber !== undefined) f.push(['sfnum', p.sfNumber]);
      if (p.external !== undefined) f.push(['external', p.external !== 0]);
    } else if (p.flavour === 0 || p.flavour === 1 || p.flavour === 2) {
      if (p.number !== undefined) f.push(['port', p.number]);
    }
  }
  if (p.linecardIndex !== undefined) f.push(['lc', p.linecardIndex]);
  if (p.splitGroup !== undefined) f.push(['split_group', p.splitGroup]);
  if (p.splittable !== undefined) f.push(['splittable', p.splittable !== 0]);
  if (p.lanes !== undefined) f.push(['lanes', p.lanes]);
  return f;
}

function functionFields(p: DevlinkPortInfo, persona: IproutePersona): Array<[string, Json]> {
  const fn = p.function;
  const f: Array<[string, Json]> = [];
  if (!fn) return f;
  if (fn.hwAddr !== undefined) f.push(['hw_addr', mac(fn.hwAddr)]);
  if (fn.state !== undefined) f.push(['state', FN_STATE[fn.state] ?? String(fn.state)]);
  if (fn.opstate !== undefined) f.push(['opstate', FN_OPSTATE[fn.opstate] ?? String(fn.opstate)]);
  if (persona !== '6.1' && fn.caps) {
    const caps: Array<[number, string]> = [
      [1, 'roce'],
      [2, 'migratable'],
      [4, 'ipsec_crypto'],
      [8, 'ipsec_packet'],
    ];
    for (const [bit, name] of caps) {
      if (fn.caps.selector & bit) f.push([name, fn.caps.value & bit ? 'enable' : 'disable']);
    }
  }
  if (persona !== '6.1' && fn.maxIoEqs !== undefined) f.push(['max_io_eqs', fn.maxIoEqs]);
  return f;
}

const textValue = (v: Json) => (typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v));

export function printPorts(ports: DevlinkPortInfo[], o: DevlinkPrintOptions): string {
  if (o.json) {
    const port: Record<string, Json> = {};
    for (const p of ports) {
      const obj: Record<string, Json> = Object.fromEntries(portFields(p));
      const fn = functionFields(p, o.persona);
      if (p.function) obj.function = Object.fromEntries(fn);
      port[`${h(p.handle)}/${p.index}`] = obj;
    }
    return renderJson({ port }, o.pretty);
  }
  let out = '';
  for (const p of ports) {
    out += `${h(p.handle)}/${p.index}:${portFields(p)
      .map(([k, v]) => ` ${k} ${textValue(v)}`)
      .join('')}\n`;
    if (p.function) {
      const fn = functionFields(p, o.persona);
      out += '  function:\n';
      if (fn.length) out += `    ${fn.map(([k, v]) => `${k} ${textValue(v)}`).join(' ')}\n`;
    }
  }
  return out;
}

// ---------------------------------------------------------------- params

function paramValueJson(v: unknown): Json {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, '0')).join('');
  return v as Json;
}

export function printParams(params: DevlinkParamInfo[], o: DevlinkPrintOptions): string {
  const groups = new Map<string, DevlinkParamInfo[]>();
  for (const p of params) {
    const k = h(p.handle);
    const g = groups.get(k);
    if (g) g.push(p);
    else groups.set(k, [p]);
  }
  if (o.json) {
    const param: Record<string, Json> = {};
    for (const [k, ps] of groups) {
      param[k] = ps.map((p) => ({
        name: p.name,
        type: p.generic ? 'generic' : 'driver-specific',
        // iproute2 6.15 does not print PARAM_VALUE_DEFAULT (7.0 does)
        values: p.values.map((v) => ({
          cmode: CMODE[v.cmode] ?? String(v.cmode),
          value: paramValueJson(v.data),
        })),
      }));
    }
    return renderJson({ param }, o.pretty);
  }
  let out = '';
  for (const [k, ps] of groups) {
    out += `${k}:\n`;
    for (const p of ps) {
      out += `  name ${p.name} type ${p.generic ? 'generic' : 'driver-specific'}\n`;
      out += '    values:\n';
      for (const v of p.values)
        out += `      cmode ${CMODE[v.cmode] ?? String(v.cmode)} value ${textValue(paramValueJson(v.data))}\n`;
    }
  }
  return out;
}

// ---------------------------------------------------------------- info

export function printInfo(infos: DevlinkInfo[], o: DevlinkPrintOptions): string {
  const sections: Array<['fixed' | 'running' | 'stored', string]> = [
    ['fixed', 'fixed'],
    ['running', 'running'],
    ['stored', 'stored'],
  ];
  if (o.json) {
    const info: Record<string, Json> = {};
    for (const i of infos) {
      const obj: Record<string, Json> = {};
      if (i.driverName !== undefined) obj.driver = i.driverName;
      if (i.serialNumber !== undefined) obj.serial_number = i.serialNumber;
      if (i.boardSerialNumber !== undefined) obj['board.serial_number'] = i.boardSerialNumber;
      const versions: Record<string, Json> = {};
      for (const [key, name] of sections) {
        if (i[key].length) versions[name] = Object.fromEntries(i[key].map((v) => [v.name, v.value]));
      }
      if (Object.keys(versions).length) obj.versions = versions;
      info[h(i.handle)] = obj;
    }
    return renderJson({ info }, o.pretty);
  }
  let out = '';
  for (const i of infos) {
    out += `${h(i.handle)}:\n`;
    if (i.driverName !== undefined) out += `  driver ${i.driverName}\n`;
    if (i.serialNumber !== undefined) out += `  serial_number ${i.serialNumber}\n`;
    if (i.boardSerialNumber !== undefined) out += `  board.serial_number ${i.boardSerialNumber}\n`;
    if (i.fixed.length || i.running.length || i.stored.length) {
      out += '  versions:\n';
      for (const [key, name] of sections) {
        if (!i[key].length) continue;
        out += `      ${name}:\n`;
        for (const v of i[key]) out += `        ${v.name} ${v.value}\n`;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- reload

export function printReload(r: DevlinkReloadResult, o: DevlinkPrintOptions): string {
  if (!r.actionsPerformed) return '';
  const names: string[] = [];
  for (const [bit, name] of Object.entries(RELOAD_ACTION)) {
    if (r.actionsPerformed.value & (1 << Number(bit))) names.push(name);
  }
  if (o.json) return renderJson({ reload_actions_performed: names }, o.pretty);
  return `reload_actions_performed:\n${names.map((n) => `    ${n}\n`).join('')}`;
}
