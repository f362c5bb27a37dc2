/**
 * DevlinkClient: typed devlink (generic netlink) requests over a NetlinkChannel on a NETLINK_GENERIC
 * transport (kernel, simulator or VM: the client does not know which).
 *
 * Every request is built by the pure builders of devlink/requests.ts (byte-identical to iproute2's),
 * sent with the channel's seq, and answered with a typed result; a refusal rejects with NetlinkError
 * (errno name + extack message), bytes that do not decode with NetlinkDecodeError.
 */
import type { DevlinkEswitch, DevlinkHandle, DevlinkInfo } from '@xfrmkit/core';
import {
  DEVLINK_CMD,
  DEVLINK_GENL_MCGRP_CONFIG_NAME,
  DEVLINK_GENL_NAME,
  devlinkCmdName,
} from '../devlink/constants.ts';
import {
  type DevlinkDevice,
  type DevlinkParamInfo,
  type DevlinkPortInfo,
  type DevlinkReloadResult,
  decodeDevice,
  decodeEswitch,
  decodeInfo,
  decodeParam,
  decodePort,
  decodeReload,
  sameHandle,
} from '../devlink/domain.ts';
import {
  buildDevGet,
  buildEswitchGet,
  buildEswitchSet,
  buildInfoGet,
  buildNotifyFilterSet,
  buildParamGet,
  buildParamSet,
  buildPortFunctionSet,
  buildPortGet,
  buildReload,
  isResetDefault,
  type ParamSetValue,
  type PortFunctionSetOpts,
  type ReloadOpts,
  requestName,
} from '../devlink/requests.ts';
import { devlinkFamily } from '../devlink/tables.ts';
import {
  dumpSelectorSupported,
  type FamilyPolicy,
  type GenlFamilyInfo,
  getPolicy,
  resolveFamily,
} from '../genl/resolve.ts';
import { GenlRegistry, type NetlinkMessage } from '../message.ts';
import type { Attr } from '../schema/attrs.ts';
import { NetlinkDecodeError, NetlinkError } from '../wire/errors.ts';
import { type ChannelOptions, NetlinkChannel } from './channel.ts';
import type { Transport } from './transport.ts';

/** A decoded devlink notification (multicast group "config"). */
export type DevlinkEvent =
  | { kind: 'dev'; action: 'new' | 'del'; dev: DevlinkDevice }
  | { kind: 'port'; action: 'new' | 'del'; port: DevlinkPortInfo }
  | { kind: 'param'; action: 'new' | 'del'; param: DevlinkParamInfo }
  /** any other devlink notification (region, health, trap, rate, linecard, flash…) with its attributes */
  | { kind: 'other'; cmd: number; cmdName: string; attrs: Attr[] }
  /** a notification that did not decode (bad bytes, or a NEW without handle); never thrown */
  | { kind: 'error'; error: Error };

const EVENT_OF: Record<number, ['dev' | 'port' | 'param', 'new' | 'del']> = {
  [DEVLINK_CMD.NEW]: ['dev', 'new'],
  [DEVLINK_CMD.DEL]: ['dev', 'del'],
  [DEVLINK_CMD.PORT_NEW]: ['port', 'new'],
  [DEVLINK_CMD.PORT_DEL]: ['port', 'del'],
  [DEVLINK_CMD.PARAM_NEW]: ['param', 'new'],
  [DEVLINK_CMD.PARAM_DEL]: ['param', 'del'],
};

/** Maps one devlink message to an event (exported for simulators and monitors). */
export function devlinkEventOf(m: NetlinkMessage): DevlinkEvent | undefined {
  if (m.kind !== 'genl') return undefined;
  const { cmd, attrs } = m.genl;
  const ev = EVENT_OF[cmd];
  try {
    if (ev?.[0] === 'dev') return { kind: 'dev', action: ev[1], dev: decodeDevice(attrs) };
    if (ev?.[0] === 'port') return { kind: 'port', action: ev[1], port: decodePort(attrs) };
    if (ev?.[0] === 'param') return { kind: 'param', action: ev[1], param: decodeParam(attrs) };
  } catch (e) {
    return { kind: 'error', error: e as Error };
  }
  return { kind: 'other', cmd, cmdName: devlinkCmdName(cmd), attrs };
}

export interface ParamSetResult {
  /** false when the value was already in force and nothing was sent (iproute2's behaviour) */
  changed: boolean;
  warning?: string;
}

export interface ParamSetOptions {
  /**
   * DEVLINK_VAR_ATTR_TYPE of the param. Without it the client first sends PARAM_GET {BUS, DEV, NAME,
   * CMODE} to learn the type and current value, exactly as `devlink dev param set` does.
   */
  type?: number;
  /** send PARAM_SET even when the current value equals the new one (default false, as iproute2) */
  force?: boolean;
}

export interface DevlinkClientOptions extends Omit<ChannelOptions, 'genl'> {
  /**
   * genlmsghdr.version of devlink requests. Default 1 (DEVLINK_GENL_VERSION, what iproute2 6.15
   * sends); iproute2 6.1 sent 0 (seen in its captured requests). The kernel ignores it.
   */
  genlVersion?: number;
}

export class DevlinkClient {
  private constructor(
    readonly channel: NetlinkChannel,
    readonly family: GenlFamilyInfo,
    readonly genlVersion = 1,
  ) {}

  /**
   * Opens a client on a NETLINK_GENERIC transport: resolves "devlink" with CTRL_CMD_GETFAMILY and
   * learns its id and the id of its "config" multicast group. Rejects with NetlinkError ENOENT on a
   * kernel without devlink.
   */
  static async open(transport: Transport, opts: DevlinkClientOptions = {}): Promise<DevlinkClient> {
    const { genlVersion, ...chOpts } = opts;
    const genl = new GenlRegistry().define(devlinkFamily);
    const channel = new NetlinkChannel(transport, { ...chOpts, genl });
    try {
      const family = await resolveFamily(channel, DEVLINK_GENL_NAME);
      genl.bind(family.id, DEVLINK_GENL_NAME);
      return new DevlinkClient(channel, family, genlVersion);
    } catch (e) {
      channel.close();
      throw e;
    }
  }

  /** Wraps an existing channel whose family was already resolved (e.g. a shared socket). */
  static fromChannel(channel: NetlinkChannel, family: GenlFamilyInfo, genlVersion?: number): DevlinkClient {
    if (!channel.genl) throw new TypeError('DevlinkClient needs a channel with a GenlRegistry');
    channel.genl.define(devlinkFamily).bind(family.id, DEVLINK_GENL_NAME);
    return new DevlinkClient(channel, family, genlVersion);
  }

  get familyId(): number {
    return this.family.id;
  }

  /** id of the "config" multicast group (undefined if the family announced none) */
  get configGroup(): number | undefined {
    return this.family.mcastGroups.find((g) => g.name === DEVLINK_GENL_MCGRP_CONFIG_NAME)?.id;
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private versioned(msg: NetlinkMessage): NetlinkMessage {
    if (msg.kind === 'genl') msg.genl.version = this.genlVersion;
    return msg;
  }

  private async doRequest(msg: NetlinkMessage): Promise<{ reply?: Attr[]; warning?: string }> {
    this.versioned(msg);
    const what = requestName(msg);
    const { replies, warning } = await this.channel.request({ msg, what });
    const r = replies.find((m) => m.kind === 'genl' && m.genl.type === this.family.id);
    const out: { reply?: Attr[]; warning?: string } = {};
    if (r && r.kind === 'genl') out.reply = r.genl.attrs;
    if (warning !== undefined) out.warning = warning;
    return out;
  }

  private async needReply(msg: NetlinkMessage): Promise<Attr[]> {
    const { reply } = await this.doRequest(msg);
    if (!reply)
      throw new NetlinkDecodeError(`${requestName(msg)}: acknowledged without a reply message`, 0, 'devlink');
    return reply;
  }

  private policy?: Promise<FamilyPolicy | undefined>;

  /**
   * Whether the kernel filters dumps of `cmd` by handle ("dump selectors", 6.6+). Asked once per
   * client with CTRL_CMD_GETPOLICY, like iproute2 ≥ 6.6 does before a selector dump; a kernel that
   * cannot answer counts as "no".
   */
  async dumpSelectorSupported(cmd: number): Promise<boolean> {
    this.policy ??= getPolicy(this.channel, this.familyId).catch(() => undefined);
    const p = await this.policy;
    return p !== undefined && dumpSelectorSupported(p, cmd);
  }

  private async selectorDump(
    cmd: number,
    handle: DevlinkHandle | undefined,
    build: (h?: DevlinkHandle) => NetlinkMessage,
  ): Promise<Attr[][]> {
    const filtered = handle !== undefined && (await this.dumpSelectorSupported(cmd));
    return this.dumpAttrs(build(filtered ? handle : undefined));
  }

  private async dumpAttrs(msg: NetlinkMessage): Promise<Attr[][]> {
    const out: Attr[][] = [];
    for await (const m of this.channel.dump({ msg: this.versioned(msg), what: requestName(msg) })) {
      if (m.kind === 'genl' && m.genl.type === this.family.id) out.push(m.genl.attrs);
    }
    return out;
  }

  // ---- dev ----------------------------------------------------------------------------------------

  /** `devlink dev show` */
  async devList(): Promise<DevlinkDevice[]> {
    return (await this.dumpAttrs(buildDevGet(this.familyId))).map(decodeDevice);
  }

  /** `devlink dev show DEV` */
  async devGet(handle: DevlinkHandle): Promise<DevlinkDevice> {
    return decodeDevice(await this.needReply(buildDevGet(this.familyId, handle)));
  }

  // ---- ports --------------------------------------------------------------------------------------

  /**
   * `devlink port show [DEV]`. With a handle: as iproute2 ≥ 6.6, CTRL_CMD_GETPOLICY first, then a
   * dump with the handle as selector; on kernels without selectors an unfiltered dump (where iproute2
   * gives up). The result is filtered by handle here in both cases.
   */
  async portList(handle?: DevlinkHandle): Promise<DevlinkPortInfo[]> {
    const dump = await this.selectorDump(DEVLINK_CMD.PORT_GET, handle, (h) => buildPortGet(this.familyId, h));
    const ports = dump.map(decodePort);
    return handle ? ports.filter((p) => sameHandle(p.handle, handle)) : ports;
  }

  /** `devlink port show DEV/INDEX` */
  async portGet(handle: DevlinkHandle, index: number): Promise<DevlinkPortInfo> {
    return decodePort(await this.needReply(buildPortGet(this.familyId, handle, index)));
  }

  /** `devlink port function set DEV/INDEX [hw_addr …] [state …] [roce|migratable|ipsec_crypto|ipsec_packet …] [max_io_eqs N]` */
  async portFunctionSet(
    handle: DevlinkHandle,
    index: number,
    fn: PortFunctionSetOpts,
  ): Promise<{ warning?: string }> {
    const { warning } = await this.doRequest(buildPortFunctionSet(this.familyId, handle, index, fn));
    return warning === undefined ? {} : { warning };
  }

  // ---- eswitch ------------------------------------------------------------------------------------

  /** `devlink dev eswitch show DEV` (needs CAP_NET_ADMIN) */
  async eswitchGet(handle: DevlinkHandle): Promise<DevlinkEswitch> {
    return decodeEswitch(await this.needReply(buildEswitchGet(this.familyId, handle)));
  }

  /** `devlink dev eswitch set DEV [mode M] [inline-mode I] [encap-mode E]` */
  async eswitchSet(handle: DevlinkHandle, opts: DevlinkEswitch): Promise<{ warning?: string }> {
    const { warning } = await this.doRequest(buildEswitchSet(this.familyId, handle, opts));
    return warning === undefined ? {} : { warning };
  }

  // ---- params -------------------------------------------------------------------------------------

  /** `devlink dev param show [DEV]` (filtered here as well, see portList) */
  async paramList(handle?: DevlinkHandle): Promise<DevlinkParamInfo[]> {
    const dump = await this.selectorDump(DEVLINK_CMD.PARAM_GET, handle, (h) =>
      buildParamGet(this.familyId, h),
    );
    const params = dump.map(decodeParam);
    return handle ? params.filter((p) => sameHandle(p.handle, handle)) : params;
  }

  /** `devlink dev param show DEV name NAME` */
  async paramGet(handle: DevlinkHandle, name: string, cmode?: number): Promise<DevlinkParamInfo> {
    return decodeParam(await this.needReply(buildParamGet(this.familyId, handle, name, cmode)));
  }

  /**
   * `devlink dev param set DEV name NAME { value V | default } cmode C`. Like iproute2 it first asks
   * the kernel for the param (type, supported cmodes, current value), refuses an unsupported cmode
   * with NetlinkError EOPNOTSUPP without sending, and sends nothing when the value is unchanged.
   */
  async paramSet(
    handle: DevlinkHandle,
    name: string,
    value: ParamSetValue,
    cmode: number,
    opts: ParamSetOptions = {},
  ): Promise<ParamSetResult> {
    let type = opts.type;
    if (type === undefined || !opts.force) {
      const cur = await this.paramGet(handle, name, cmode);
      type = type ?? cur.type;
      const v = cur.values.find((x) => x.cmode === cmode);
      if (!v) {
        throw new NetlinkError(
          95,
          { msg: 'Configuration mode not supported' },
          `DEVLINK_CMD_PARAM_SET ${name}`,
        );
      }
      if (!opts.force && !isResetDefault(value) && paramValueEquals(v.data, value)) return { changed: false };
    }
    const { warning } = await this.doRequest(buildParamSet(this.familyId, handle, name, type, value, cmode));
    return warning === undefined ? { changed: true } : { changed: true, warning };
  }

  // ---- info / reload ------------------------------------------------------------------------------

  /** `devlink dev info DEV` */
  async info(handle: DevlinkHandle): Promise<DevlinkInfo> {
    return decodeInfo(await this.needReply(buildInfoGet(this.familyId, handle)));
  }

  /** `devlink dev info` (instances without info are skipped by the kernel) */
  async infoList(): Promise<DevlinkInfo[]> {
    return (await this.dumpAttrs(buildInfoGet(this.familyId))).map(decodeInfo);
  }

  /** `devlink dev reload DEV [action A] [limit L]`; actionsPerformed only when action or limit was given */
  async reload(
    handle: DevlinkHandle,
    action?: number,
    limit?: number,
    opts: Pick<ReloadOpts, 'netns'> = {},
  ): Promise<DevlinkReloadResult> {
    const ro: ReloadOpts = { ...opts };
    if (action !== undefined) ro.action = action;
    if (limit !== undefined) ro.limit = limit;
    const { reply, warning } = await this.doRequest(buildReload(this.familyId, handle, ro));
    const r = reply ? decodeReload(reply) : {};
    if (warning !== undefined) r.warning = warning;
    return r;
  }

  // ---- notifications ------------------------------------------------------------------------------

  /**
   * Joins the "config" group and calls `cb` with every devlink notification decoded to an event.
   * Returns a function that unsubscribes (and leaves the group when the last subscriber is gone).
   */
  subscribe(cb: (ev: DevlinkEvent) => void): () => void {
    const group = this.configGroup;
    if (group === undefined) throw new TypeError('the devlink family announced no "config" multicast group');
    this.channel.transport.addMembership(group);
    this.subscribers++;
    const off = this.channel.subscribe((m) => {
      if (m.kind !== 'genl' || m.genl.type !== this.family.id) return;
      const ev = devlinkEventOf(m);
      if (ev) cb(ev);
    });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      if (--this.subscribers === 0) this.channel.transport.dropMembership(group);
    };
  }

  private subscribers = 0;

  /** Narrows this socket's notifications to one instance / port (kernel ≥ 6.8). */
  async notifyFilterSet(handle?: DevlinkHandle, portIndex?: number): Promise<void> {
    await this.doRequest(buildNotifyFilterSet(this.familyId, handle, portIndex));
  }

  close(): void {
    this.channel.close();
  }
}

function paramValueEquals(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  const int = (x: unknown) => typeof x === 'bigint' || (typeof x === 'number' && Number.isSafeInteger(x));
  if (int(a) && int(b)) return BigInt(a as number | bigint) === BigInt(b as number | bigint);
  return a === b;
}
