/**
 * The devlink generic netlink family of the simulator: the devlink core (net/devlink/*.c: handle
 * lookup, dumps, reply layouts, notifications, port-function/param/reload argument checks) in front
 * of the mlx5 driver model in ../devices. Replies are encoded with @xfrmkit/netlink's devlink tables
 * and domain builders (portAttrs, paramAttrs, deviceAttrs, infoAttrs, eswitchAttrs), so attribute
 * order and nest flags are the ones the codec documents from devlink-uapi.md §5.
 */

import { DEVLINK_PARAM_CMODE, DEVLINK_PARAM_TYPE, DEVLINK_PORT_FN_CAP } from '@xfrmkit/core';
import {
  type Attr,
  DEVLINK_PORT_FN_ATTR,
  deviceAttrs,
  devlinkFamily,
  dlAttr,
  encodeGenl,
  handleAttrs,
  infoAttrs,
  NLM_F,
  paramAttrs,
  portAttrs,
} from '@xfrmkit/netlink';
import type { DeviceEvent, DevlinkInstance, DevlinkRateInfo, SimPort } from '../devices/device.ts';
import type { DevlinkDriver } from '../devices/driver.ts';
import type { SimKernelFeatures } from '../devices/hardware.ts';
import { E, type ParamValue, type SimError } from '../devices/params.ts';
import {
  cstr,
  type GenlController,
  type GenlFamilyDef,
  type GenlRequest,
  type RegisteredFamily,
} from '../genl/controller.ts';
import { type Tlv, walkTlvs } from '../genl/policy.ts';
import { NETLINK_GENERIC, type SimMachine } from '../machine.ts';
import type { SimResult } from '../netlink/endpoint.ts';
import type { SimSocket } from '../netlink/socket.ts';
import { CMD, DL, devlinkOps, MODELLED } from './ops.ts';

const DEVLINK_VERSION = 1;
/** NLMSG_DEFAULT_SIZE for a doit reply on 4 KiB pages */
const DOIT_MAX = 3776;

interface NotifyFilter {
  bus?: string;
  dev?: string;
  portIndex?: number;
}

type Fail = { kind: 'error'; errno: number; extack?: { msg?: string; offs?: number; missType?: number } };

function err(e: SimError, offs?: number): Fail {
  const r: Fail = { kind: 'error', errno: e.errno };
  if (e.msg !== undefined || offs !== undefined) {
    r.extack = {};
    if (e.msg !== undefined) r.extack.msg = e.msg;
    if (offs !== undefined) r.extack.offs = offs;
  }
  return r;
}

const missing = (type: number): Fail => ({ kind: 'error', errno: E.EINVAL, extack: { missType: type } });

function u32le(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, 4).getUint32(0, true);
}

export interface DevlinkFamilyOptions {
  /** pin the family id (default: allocated from 0x13) */
  id?: number;
  /** pin the "config" multicast group id */
  groupId?: number;
}

export class DevlinkFamily {
  readonly registered: RegisteredFamily;
  private readonly filters = new WeakMap<SimSocket, NotifyFilter>();

  constructor(
    private readonly machine: SimMachine,
    controller: GenlController,
    private readonly devices: readonly DevlinkDriver[],
    private readonly kernel: SimKernelFeatures,
    opts: DevlinkFamilyOptions = {},
  ) {
    const def: GenlFamilyDef = {
      name: 'devlink',
      version: DEVLINK_VERSION,
      hdrsize: 0,
      maxattr: 0,
      netnsok: true,
      mcastGroups: ['config'],
      ops: devlinkOps(kernel),
      handle: (r) => this.handle(r),
    };
    const pin: { id?: number; groupIds?: number[] } = {};
    if (opts.id !== undefined) pin.id = opts.id;
    if (opts.groupId !== undefined) pin.groupIds = [opts.groupId];
    this.registered = controller.register(def, pin);
    for (const d of devices) d.onEvent((e) => this.onDeviceEvent(d, e));
  }

  get id(): number {
    return this.registered.id;
  }

  get configGroup(): number {
    return this.registered.groups[0]!.id;
  }

  /** registered instances in index (allocation) order */
  instances(): DevlinkInstance[] {
    return this.devices.flatMap((d) => d.instances());
  }

  // ---- plumbing -----------------------------------------------------------------------------------

  private msg(cmd: number, attrs: Attr[], seq: number, pid: number, flags = 0): Uint8Array {
    return encodeGenl(
      { type: this.id, flags, seq, pid, cmd, version: DEVLINK_VERSION, attrs },
      devlinkFamily,
    );
  }

  private reply(r: GenlRequest, cmd: number, attrs: Attr[]): SimResult | undefined {
    const m = this.msg(cmd, attrs, r.req.header.seq, r.req.sock.portid);
    if (m.length > DOIT_MAX) return { kind: 'error', errno: E.EMSGSIZE };
    r.ctx.unicast(m);
    return undefined;
  }

  /** `devlink_get_from_attrs_lock`: bus/dev missing → EINVAL, unknown in the caller's netns → ENODEV */
  private lookup(r: GenlRequest): DevlinkInstance | Fail {
    const bus = r.tb.get(DL.BUS_NAME);
    const dev = r.tb.get(DL.DEV_NAME);
    if (!bus || !dev) return { kind: 'error', errno: E.EINVAL };
    const b = cstr(bus.payload);
    const d = cstr(dev.payload);
    const inst = this.instances().find(
      (i) => i.handle.bus === b && i.handle.dev === d && i.netns === r.req.sock.netns,
    );
    return inst ?? { kind: 'error', errno: E.ENODEV };
  }

  /**
   * `devlink_nl_dumpit`: with BUS or DEV the dump is limited to that instance (messages flagged
   * DUMP_FILTERED, lookup errors in the DONE payload); else every instance of the netns in index
   * order. NLMSG_DONE rides in the last data datagram. `one` returns the instance's messages or an
   * errno (EOPNOTSUPP from an instance = skipped).
   */
  private dumpit(
    r: GenlRequest,
    one: (inst: DevlinkInstance, flags: number) => Uint8Array[] | SimError,
  ): SimResult {
    const filtered = r.tb.has(DL.BUS_NAME) || r.tb.has(DL.DEV_NAME);
    if (filtered) {
      const inst = this.lookup(r);
      if ('errno' in inst) return { kind: 'dump', messages: [], doneSeparate: false, doneErrno: inst.errno };
      const out = one(inst, NLM_F.DUMP_FILTERED);
      if (!Array.isArray(out)) {
        if (out.errno === E.EOPNOTSUPP) return { kind: 'dump', messages: [], doneSeparate: false };
        return { kind: 'dump', messages: [], doneSeparate: false, doneErrno: out.errno };
      }
      return { kind: 'dump', messages: out, doneSeparate: false };
    }
    const messages: Uint8Array[] = [];
    for (const inst of this.instances()) {
      if (inst.netns !== r.req.sock.netns) continue;
      const out = one(inst, 0);
      if (!Array.isArray(out)) {
        if (out.errno === E.EOPNOTSUPP) continue;
        return { kind: 'dump', messages, doneSeparate: false, doneErrno: out.errno };
      }
      messages.push(...out);
    }
    return { kind: 'dump', messages, doneSeparate: false };
  }

  private handle(r: GenlRequest): SimResult {
    if (!MODELLED.has(r.cmd)) {
      return {
        kind: 'error',
        errno: E.EOPNOTSUPP,
        extack: { msg: `xfrmkit-sim: devlink command ${r.cmd} is not modelled` },
      };
    }
    switch (r.cmd) {
      case CMD.GET:
        return this.devGet(r);
      case CMD.PORT_GET:
        return this.portGet(r);
      case CMD.PORT_SET:
        return this.portSet(r);
      case CMD.ESWITCH_GET:
        return this.eswitchGet(r);
      case CMD.ESWITCH_SET:
        return this.eswitchSet(r);
      case CMD.PARAM_GET:
        return this.paramGet(r);
      case CMD.PARAM_SET:
        return this.paramSet(r);
      case CMD.INFO_GET:
        return this.infoGet(r);
      case CMD.RELOAD:
        return this.reload(r);
      default:
        return this.notifyFilterSet(r);
    }
  }

  // ---- dev ----------------------------------------------------------------------------------------

  private devGet(r: GenlRequest): SimResult {
    const seq = r.req.header.seq;
    const pid = r.req.sock.portid;
    if (r.isDump)
      return this.dumpit(r, (i, f) => [this.msg(CMD.NEW, deviceAttrs(i.device.devInfo(i)), seq, pid, f)]);
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    return this.reply(r, CMD.NEW, deviceAttrs(inst.device.devInfo(inst))) ?? { kind: 'ok' };
  }

  // ---- ports --------------------------------------------------------------------------------------

  private portLookup(r: GenlRequest, inst: DevlinkInstance): SimPort | Fail {
    const idx = r.tb.get(DL.PORT_INDEX);
    if (!idx) return { kind: 'error', errno: E.EINVAL };
    return inst.device.port(inst.kind, u32le(idx.payload)) ?? { kind: 'error', errno: E.ENODEV };
  }

  private portGet(r: GenlRequest): SimResult {
    const seq = r.req.header.seq;
    const pid = r.req.sock.portid;
    if (r.isDump) {
      return this.dumpit(r, (i, f) =>
        i.device
          .portsOf(i.kind)
          .map((p) => this.msg(this.kernel.portDumpCmd, portAttrs(i.device.portInfo(p)), seq, pid, f)),
      );
    }
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    const port = this.portLookup(r, inst);
    if ('errno' in port) return port;
    return this.reply(r, CMD.PORT_NEW, portAttrs(inst.device.portInfo(port))) ?? { kind: 'ok' };
  }

  private portSet(r: GenlRequest): SimResult {
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    const port = this.portLookup(r, inst);
    if ('errno' in port) return port;
    const dev = inst.device;
    if (r.tb.has(DL.PORT_TYPE)) {
      // mlx5 registers no port_type_set op
      return { kind: 'error', errno: E.EOPNOTSUPP };
    }
    const fnAttr = r.tb.get(DL.PORT_FUNCTION);
    if (!fnAttr) return { kind: 'ok' };
    const parsed = parseFunctionStrict(fnAttr);
    if ('errno' in parsed)
      return err({ errno: E.EINVAL, msg: 'Fail to parse port function attributes' }, parsed.offs);
    const tb = parsed.tb;
    const ops = dev.portFnOps(port);
    const isVf = port.kind === 'vf';
    const hw = tb.get(DEVLINK_PORT_FN_ATTR.HW_ADDR);
    const state = tb.get(DEVLINK_PORT_FN_ATTR.STATE);
    const capsT = tb.get(DEVLINK_PORT_FN_ATTR.CAPS);
    const eqs = tb.get(DEVLINK_PORT_FN_ATTR.MAX_IO_EQS);
    // devlink_port_function_validate
    if (hw && !ops.hwAddrSet)
      return err({ errno: E.EOPNOTSUPP, msg: "Port doesn't support function attributes" }, hw.offset);
    if (state && !ops.stateSet)
      return err({ errno: E.EOPNOTSUPP, msg: 'Function does not support state setting' }, state.offset);
    let caps: { value: number; selector: number } | undefined;
    if (capsT) {
      caps = { value: u32le(capsT.payload), selector: u32le(capsT.payload.subarray(4)) };
      const s = caps.selector;
      if (s & DEVLINK_PORT_FN_CAP.ROCE && !ops.roce)
        return err(
          { errno: E.EOPNOTSUPP, msg: "Port doesn't support RoCE function attribute" },
          capsT.offset,
        );
      const vfOnly: Array<[number, string, boolean]> = [
        [DEVLINK_PORT_FN_CAP.MIGRATABLE, 'migratable', ops.migratable],
        [DEVLINK_PORT_FN_CAP.IPSEC_CRYPTO, 'ipsec_crypto', ops.ipsec],
        [DEVLINK_PORT_FN_CAP.IPSEC_PACKET, 'ipsec_packet', ops.ipsec],
      ];
      for (const [bit, name, has] of vfOnly) {
        if (!(s & bit)) continue;
        if (!has)
          return err(
            { errno: E.EOPNOTSUPP, msg: `Port doesn't support ${name} function attribute` },
            capsT.offset,
          );
        if (!isVf)
          return err(
            { errno: E.EOPNOTSUPP, msg: `${name} function attribute supported for VFs only` },
            capsT.offset,
          );
      }
    }
    if (eqs && !ops.maxIoEqs)
      return err({ errno: E.EOPNOTSUPP, msg: 'Function does not support max_io_eqs setting' }, eqs.offset);
    // apply: hw_addr, caps (roce, migratable, ipsec_crypto, ipsec_packet), [max_io_eqs], state last
    if (hw) {
      const mac = hw.payload;
      if (mac.length > 32)
        return err({ errno: E.EINVAL, msg: 'Port function hardware address too long' }, hw.offset);
      if (port.type === 2) {
        if (mac.length !== 6)
          return err({ errno: E.EINVAL, msg: 'Address must be 6 bytes for Ethernet device' }, hw.offset);
        if (mac[0]! & 1)
          return err({ errno: E.EINVAL, msg: 'Non-unicast hardware address unsupported' }, hw.offset);
      }
      const e = dev.setHwAddr(port, mac);
      if (e) return err(e);
    }
    if (caps) {
      for (const bit of [
        DEVLINK_PORT_FN_CAP.ROCE,
        DEVLINK_PORT_FN_CAP.MIGRATABLE,
        DEVLINK_PORT_FN_CAP.IPSEC_CRYPTO,
        DEVLINK_PORT_FN_CAP.IPSEC_PACKET,
      ]) {
        if (!(caps.selector & bit)) continue;
        const e = dev.setCap(port, bit, (caps.value & bit) !== 0);
        if (e) return err(e);
      }
    }
    dev.portChanged(port);
    return { kind: 'ok' };
  }

  // ---- eswitch ------------------------------------------------------------------------------------

  private eswitchGet(r: GenlRequest): SimResult {
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    const attrs = handleAttrs(inst.handle);
    if (inst.kind === 'pci') {
      // `devlink_nl_eswitch_fill`: one attribute per getter the driver registered
      const e = inst.device.eswitchGet();
      if ('errno' in e) return err(e);
      if (e.mode !== undefined) attrs.push(dlAttr('ESWITCH_MODE', e.mode));
      if (e.inlineMode !== undefined) attrs.push(dlAttr('ESWITCH_INLINE_MODE', e.inlineMode));
      if (e.encapMode !== undefined) attrs.push(dlAttr('ESWITCH_ENCAP_MODE', e.encapMode));
    }
    return this.reply(r, CMD.ESWITCH_GET, attrs) ?? { kind: 'ok' };
  }

  private eswitchSet(r: GenlRequest): SimResult {
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    const dev = inst.device;
    const hasOps = inst.kind === 'pci';
    let warning: string | undefined;
    const mode = r.tb.get(DL.ESWITCH_MODE);
    if (mode) {
      if (!hasOps) return { kind: 'error', errno: E.EOPNOTSUPP };
      if (dev.knobs.rateNodes > 0) return err({ errno: E.EBUSY, msg: 'Rate node(s) exists.' });
      const res = dev.eswitchModeSet(mode.payload[0]! | (mode.payload[1]! << 8));
      if ('errno' in res) return err(res);
      warning = res.warning;
    }
    const inline = r.tb.get(DL.ESWITCH_INLINE_MODE);
    if (inline) {
      if (!hasOps || !dev.eswitchInlineSet) return { kind: 'error', errno: E.EOPNOTSUPP };
      const e = dev.eswitchInlineSet(inline.payload[0]!);
      if (e) return err(e);
    }
    const encap = r.tb.get(DL.ESWITCH_ENCAP_MODE);
    if (encap) {
      if (!hasOps || !dev.eswitchEncapSet) return { kind: 'error', errno: E.EOPNOTSUPP };
      const e = dev.eswitchEncapSet(encap.payload[0]!);
      if (e) return err(e);
    }
    return warning === undefined ? { kind: 'ok' } : { kind: 'ok', warning };
  }

  // ---- params -------------------------------------------------------------------------------------

  private paramMsgs(inst: DevlinkInstance, seq: number, pid: number, flags: number): Uint8Array[] {
    if (inst.kind !== 'pci') return [];
    const dev = inst.device;
    const out: Uint8Array[] = [];
    for (const d of dev.params.defs) {
      const info = dev.paramInfo(d.name);
      if (info) out.push(this.msg(CMD.PARAM_GET, paramAttrs(info), seq, pid, flags));
    }
    return out;
  }

  private paramGet(r: GenlRequest): SimResult {
    const seq = r.req.header.seq;
    const pid = r.req.sock.portid;
    if (r.isDump) return this.dumpit(r, (i, f) => this.paramMsgs(i, seq, pid, f));
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    const name = r.tb.get(DL.PARAM_NAME);
    if (!name) return missing(DL.PARAM_NAME);
    const info = inst.kind === 'pci' ? inst.device.paramInfo(cstr(name.payload)) : undefined;
    if (!info) return { kind: 'error', errno: E.EINVAL };
    return this.reply(r, CMD.PARAM_GET, paramAttrs(info)) ?? { kind: 'ok' };
  }

  /** `__devlink_nl_cmd_param_set_doit` (devlink-uapi.md §5.4) */
  private paramSet(r: GenlRequest): SimResult {
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    const nameT = r.tb.get(DL.PARAM_NAME);
    if (!nameT) return missing(DL.PARAM_NAME);
    const dev = inst.device;
    const def = inst.kind === 'pci' ? dev.params.def(cstr(nameT.payload)) : undefined;
    if (!def) return { kind: 'error', errno: E.EINVAL };
    const typeT = r.tb.get(DL.PARAM_TYPE);
    if (!typeT) return missing(DL.PARAM_TYPE);
    if (typeT.payload[0] !== def.type) return { kind: 'error', errno: E.EINVAL };
    const reset = this.kernel.paramDefaults && r.tb.has(DL.PARAM_RESET_DEFAULT);
    let value: ParamValue | undefined;
    if (!reset) {
      const v = paramValueOf(def.type, r.tb.get(DL.PARAM_VALUE_DATA));
      if (v === undefined) return { kind: 'error', errno: E.EINVAL };
      value = v;
      const e = def.validate?.(value, dev.paramEnv());
      if (e) return err(e);
    }
    const cmodeT = r.tb.get(DL.PARAM_VALUE_CMODE);
    if (!cmodeT) return missing(DL.PARAM_VALUE_CMODE);
    const cmode = cmodeT.payload[0]!;
    if (!def.cmodes.includes(cmode)) return { kind: 'error', errno: E.EOPNOTSUPP };
    if (cmode === DEVLINK_PARAM_CMODE.DRIVERINIT) {
      if (reset) {
        const d = dev.params.defaultOf(def.name);
        if (d === undefined) return err({ errno: E.EOPNOTSUPP, msg: 'Default value not available' });
        value = d;
      }
    } else {
      // mlx5 implements no reset_default for runtime/permanent params
      if (reset) return { kind: 'error', errno: E.EOPNOTSUPP };
      const e = def.setCheck?.(value!, dev.paramEnv());
      if (e) return err(e);
    }
    dev.paramStore(def.name, cmode, value!);
    return { kind: 'ok' };
  }

  // ---- info / reload ------------------------------------------------------------------------------

  private infoGet(r: GenlRequest): SimResult {
    const seq = r.req.header.seq;
    const pid = r.req.sock.portid;
    const attrsOf = (d: DevlinkDriver) => d.infoAttrs?.() ?? infoAttrs(d.info());
    if (r.isDump) {
      return this.dumpit(r, (i, f) =>
        i.kind === 'pci' ? [this.msg(CMD.INFO_GET, attrsOf(i.device), seq, pid, f)] : { errno: E.EOPNOTSUPP },
      );
    }
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    if (inst.kind !== 'pci') return { kind: 'error', errno: E.EOPNOTSUPP };
    return this.reply(r, CMD.INFO_GET, attrsOf(inst.device)) ?? { kind: 'ok' };
  }

  /** `devlink_nl_reload_doit` + `devlink_reload` (devlink-uapi.md §5.6) */
  private reload(r: GenlRequest): SimResult {
    const inst = this.lookup(r);
    if ('errno' in inst) return inst;
    if (inst.kind !== 'pci') return { kind: 'error', errno: E.EOPNOTSUPP };
    const actionT = r.tb.get(DL.RELOAD_ACTION);
    const limitsT = r.tb.get(DL.RELOAD_LIMITS);
    const action = actionT ? actionT.payload[0]! : 1;
    const dev = inst.device;
    if (!(dev.reloadActions & (1 << action)))
      return err({ errno: E.EOPNOTSUPP, msg: 'Requested reload action is not supported by the driver' });
    let limit = 0;
    if (limitsT) {
      const sel = u32le(limitsT.payload) & u32le(limitsT.payload.subarray(4));
      if (!sel) return err({ errno: E.EINVAL, msg: 'Invalid limit selected' });
      limit = 31 - Math.clz32(sel & -sel);
      if (sel !== 1 << limit)
        return err({ errno: E.EOPNOTSUPP, msg: 'Multiselection of limit is not supported' });
      // `devlink_reload_limit_is_supported`: an explicitly selected limit, unspecified included
      if (!(dev.reloadLimits & (1 << limit)))
        return err({ errno: E.EOPNOTSUPP, msg: 'Requested limit is not supported by the driver' });
      if (action === 1 && limit === 1)
        return err({ errno: E.EINVAL, msg: 'Requested limit is invalid for this action' });
    }
    const ns = [DL.NETNS_PID, DL.NETNS_FD, DL.NETNS_ID].filter((t) => r.tb.has(t));
    if (ns.length > 1)
      return err({ errno: E.EINVAL, msg: 'multiple netns identifying attributes specified' });
    // network namespaces are names in the simulator: no pid/fd/id resolves to one
    if (ns.length === 1) return err({ errno: E.EINVAL, msg: 'Unknown network namespace' });
    const res = dev.reload(action, limit);
    if ('errno' in res) return err(res);
    if (actionT || limitsT) {
      const f = this.reply(r, CMD.RELOAD, [
        ...handleAttrs(inst.handle),
        dlAttr('RELOAD_ACTIONS_PERFORMED', { value: res.performed, selector: res.performed }),
      ]);
      if (f) return f;
    }
    return res.warning === undefined ? { kind: 'ok' } : { kind: 'ok', warning: res.warning };
  }

  private notifyFilterSet(r: GenlRequest): SimResult {
    const f: NotifyFilter = {};
    const bus = r.tb.get(DL.BUS_NAME);
    const dev = r.tb.get(DL.DEV_NAME);
    const idx = r.tb.get(DL.PORT_INDEX);
    if (bus) f.bus = cstr(bus.payload);
    if (dev) f.dev = cstr(dev.payload);
    if (idx) f.portIndex = u32le(idx.payload);
    if (f.bus === undefined && f.dev === undefined && f.portIndex === undefined)
      this.filters.delete(r.req.sock);
    else this.filters.set(r.req.sock, f);
    return { kind: 'ok' };
  }

  // ---- notifications ------------------------------------------------------------------------------

  private onDeviceEvent(dev: DevlinkDriver, e: DeviceEvent): void {
    let cmd: number;
    let attrs: Attr[];
    let portIndex: number | undefined;
    switch (e.kind) {
      case 'dev':
        cmd = e.action === 'new' ? CMD.NEW : CMD.DEL;
        attrs = deviceAttrs(dev.devInfo(e.instance));
        break;
      case 'port':
        cmd = e.action === 'new' ? CMD.PORT_NEW : CMD.PORT_DEL;
        attrs = portAttrs(e.port);
        portIndex = e.port.index;
        break;
      case 'rate':
        cmd = e.action === 'new' ? CMD.RATE_NEW : CMD.RATE_DEL;
        attrs = [...handleAttrs(e.instance.handle), ...rateAttrs(e.rate)];
        break;
      default:
        cmd = e.action === 'new' ? CMD.PARAM_NEW : CMD.PARAM_DEL;
        attrs = paramAttrs(e.param);
        break;
    }
    const faults = dev.faults;
    if (faults.dropNotifications === 'all') return;
    if (faults.dropNotifications > 0) {
      faults.dropNotifications--;
      return;
    }
    const dgram = this.msg(cmd, attrs, 0, 0);
    const send = () => this.multicast(e.instance, portIndex, dgram);
    if (faults.notificationDelayMs > 0) this.machine.clock.after(faults.notificationDelayMs, send);
    else send();
  }

  private multicast(inst: DevlinkInstance, portIndex: number | undefined, dgram: Uint8Array): void {
    const group = this.configGroup;
    for (const s of this.machine.sockets(NETLINK_GENERIC, inst.netns)) {
      if (s.closed || !s.groups.has(group)) continue;
      const f = this.filters.get(s);
      if (f) {
        if (f.bus !== undefined && f.bus !== inst.handle.bus) continue;
        if (f.dev !== undefined && f.dev !== inst.handle.dev) continue;
        if (f.portIndex !== undefined && portIndex !== undefined && f.portIndex !== portIndex) continue;
      }
      s.deliver(dgram, { port: 0, group });
    }
  }
}

/** `devlink_nl_rate_fill` after the handle: type, port index or node name, tx share/max/priority/weight, parent */
function rateAttrs(r: DevlinkRateInfo): Attr[] {
  const a: Attr[] = [dlAttr('RATE_TYPE', r.type)];
  if (r.portIndex !== undefined) a.push(dlAttr('PORT_INDEX', r.portIndex));
  else if (r.nodeName !== undefined) a.push(dlAttr('RATE_NODE_NAME', r.nodeName));
  a.push(
    dlAttr('RATE_TX_SHARE', r.txShare),
    dlAttr('RATE_TX_MAX', r.txMax),
    dlAttr('RATE_TX_PRIORITY', r.txPriority),
    dlAttr('RATE_TX_WEIGHT', r.txWeight),
  );
  if (r.parent !== undefined) a.push(dlAttr('RATE_PARENT_NODE_NAME', r.parent));
  return a;
}

/** `nla_parse_nested` of PORT_FUNCTION (strict): NLA_F_NESTED required, known attrs, exact sizes, no tail */
function parseFunctionStrict(nest: Tlv): { tb: Map<number, Tlv> } | { errno: number; offs: number } {
  if (!(nest.flagBits & 0x8000)) return { errno: E.EINVAL, offs: nest.offset };
  const tlvs = walkTlvs(nest.payload, 0, nest.payload.length, nest.offset + 4);
  let used = 0;
  for (const t of tlvs) used = t.offset - (nest.offset + 4) + ((t.payload.length + 4 + 3) & ~3);
  if (nest.payload.length - used >= 4 || (tlvs.length === 0 && nest.payload.length > 0)) {
    return { errno: E.EINVAL, offs: nest.offset };
  }
  const exact: Record<number, number> = {
    [DEVLINK_PORT_FN_ATTR.STATE]: 1,
    [DEVLINK_PORT_FN_ATTR.CAPS]: 8,
    [DEVLINK_PORT_FN_ATTR.MAX_IO_EQS]: 4,
  };
  const tb = new Map<number, Tlv>();
  for (const t of tlvs) {
    const known = t.type === DEVLINK_PORT_FN_ATTR.HW_ADDR || exact[t.type] !== undefined;
    if (!known) return { errno: E.EINVAL, offs: t.offset };
    const n = exact[t.type];
    if (n !== undefined && t.payload.length !== n) return { errno: E.EINVAL, offs: t.offset };
    tb.set(t.type, t);
  }
  return { tb };
}

/** `devlink_param_value_get_from_info`: DATA → value, undefined = EINVAL */
function paramValueOf(type: number, data: Tlv | undefined): ParamValue | undefined {
  const T = DEVLINK_PARAM_TYPE;
  if (type === T.BOOL) {
    if (data?.payload.length) return undefined;
    return data !== undefined;
  }
  if (!data) return undefined;
  const p = data.payload;
  switch (type) {
    case T.U8:
      return p.length === 1 ? p[0]! : undefined;
    case T.U16:
      return p.length === 2 ? p[0]! | (p[1]! << 8) : undefined;
    case T.U32:
      return p.length === 4 ? u32le(p) : undefined;
    case T.STRING: {
      const z = p.indexOf(0);
      if (z < 0 || z >= 32) return undefined;
      return cstr(p);
    }
    default:
      return undefined;
  }
}
