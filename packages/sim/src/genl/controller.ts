/**
 * NETLINK_GENERIC in the simulator: the genetlink core (`genl_rcv_msg` → `genl_family_rcv_msg`:
 * family lookup, op lookup, GENL_ADMIN_PERM, split-op policy validation) and the controller family
 * nlctrl (id 0x10): CTRL_CMD_GETFAMILY by name or id and as a dump, CTRL_CMD_GETPOLICY dumps.
 * Reply layouts follow net/netlink/genetlink.c as captured from a 6.18 kernel
 * (/work/shared/reference/captures/kernel-genl-*.txt, devlink-uapi.md §2).
 *
 * Families register with `register(def)`; ids are allocated like the kernel (first free id from
 * 0x13, multicast groups from the first free id ≥ 2) unless the caller pins them.
 */
import {
  type Attr,
  CTRL_ATTR,
  CTRL_CMD,
  ctrlFamily,
  encodeGenl,
  GENL_ID_CTRL,
  NLM_F,
} from '@xfrmkit/netlink';
import type { ProtocolHandler, SimContext, SimRequest, SimResult } from '../netlink/endpoint.ts';
import {
  PolicyDumpState,
  type PolicyTable,
  pol,
  policyAttrs,
  type Tlv,
  toTb,
  validateTlvs,
  walkTlvs,
} from './policy.ts';

export const GENL_OP = {
  ADMIN_PERM: 0x01,
  CMD_CAP_DO: 0x02,
  CMD_CAP_DUMP: 0x04,
  CMD_CAP_HASPOL: 0x08,
  UNS_ADMIN_PERM: 0x10,
} as const;

const E = { ENOENT: 2, EPERM: 1, EINVAL: 22, EOPNOTSUPP: 95, ENODATA: 61 } as const;

/** One command of a family (the do and dump split ops of one cmd, merged). */
export interface GenlOpSpec {
  cmd: number;
  /** GENL_OP flags as nlctrl reports them (ADMIN_PERM, CMD_CAP_DO, CMD_CAP_DUMP; HASPOL is derived) */
  flags: number;
  doPolicy?: PolicyTable;
  dumpPolicy?: PolicyTable;
}

/** A request after the genetlink core accepted it. */
export interface GenlRequest {
  req: SimRequest;
  ctx: SimContext;
  family: RegisteredFamily;
  cmd: number;
  version: number;
  isDump: boolean;
  /** parsed attributes (last of each type ≤ the op policy's maxattr); empty when the op has no policy */
  tb: Map<number, Tlv>;
  /** every top-level attribute as sent */
  tlvs: Tlv[];
}

export interface GenlFamilyDef {
  name: string;
  version: number;
  hdrsize: number;
  /** CTRL_ATTR_MAXATTR (0 for split-ops-only families) */
  maxattr: number;
  ops: readonly GenlOpSpec[];
  mcastGroups: readonly string[];
  /** answers in network namespaces other than the initial one */
  netnsok: boolean;
  handle(r: GenlRequest): SimResult;
}

export interface RegisteredFamily {
  id: number;
  def: GenlFamilyDef;
  groups: Array<{ name: string; id: number }>;
}

export const GENL_START_ALLOC = 0x13;

export class GenlController implements ProtocolHandler {
  private readonly families = new Map<number, RegisteredFamily>();
  /** multicast ids in use: 0 and 1 reserved, 0x10 nlctrl, 0x11/0x12 VFS_DQUOT/PMCRAID */
  private readonly usedGroups = new Set<number>([0, 1, GENL_ID_CTRL, 0x11, 0x12]);
  private readonly unprivileged = new Set<number>();
  readonly nlctrl: RegisteredFamily;

  constructor() {
    this.nlctrl = { id: GENL_ID_CTRL, def: this.ctrlDef(), groups: [{ name: 'notify', id: GENL_ID_CTRL }] };
    this.families.set(GENL_ID_CTRL, this.nlctrl);
  }

  /** Registers a family; `id` / `groupIds` pin the numbers (tests reproducing captures). */
  register(def: GenlFamilyDef, opts: { id?: number; groupIds?: number[] } = {}): RegisteredFamily {
    for (const f of this.families.values())
      if (f.def.name === def.name) throw new Error(`genl family ${def.name} exists`);
    let id = opts.id;
    if (id === undefined) {
      id = GENL_START_ALLOC;
      while (this.families.has(id)) id++;
    } else if (this.families.has(id)) throw new Error(`genl family id 0x${id.toString(16)} in use`);
    const groups = def.mcastGroups.map((name, i) => {
      let gid = opts.groupIds?.[i];
      if (gid === undefined) {
        gid = 2;
        while (this.usedGroups.has(gid)) gid++;
      }
      this.usedGroups.add(gid);
      return { name, id: gid };
    });
    const fam: RegisteredFamily = { id, def, groups };
    this.families.set(id, fam);
    return fam;
  }

  family(name: string): RegisteredFamily | undefined {
    for (const f of this.families.values()) if (f.def.name === name) return f;
    return undefined;
  }

  /** CAP_NET_ADMIN of a socket (default: every socket is privileged, like root) */
  setCapNetAdmin(portid: number, on: boolean): void {
    if (on) this.unprivileged.delete(portid);
    else this.unprivileged.add(portid);
  }

  hasCapNetAdmin(portid: number): boolean {
    return !this.unprivileged.has(portid);
  }

  // ---- genetlink core -----------------------------------------------------------------------------

  handle(req: SimRequest, ctx: SimContext): SimResult {
    const fam = this.families.get(req.header.type);
    if (!fam) return { kind: 'error', errno: E.ENOENT };
    if (!fam.def.netnsok && req.sock.netns !== 'default') return { kind: 'error', errno: E.ENOENT };
    const hdrlen = 4 + fam.def.hdrsize;
    if (req.payload.length < hdrlen) return { kind: 'error', errno: E.EINVAL };
    const cmd = req.payload[0]!;
    const version = req.payload[1]!;
    const isDump = (req.header.flags & NLM_F.DUMP) === NLM_F.DUMP;
    const op = fam.def.ops.find((o) => o.cmd === cmd);
    if (!op || !(op.flags & (isDump ? GENL_OP.CMD_CAP_DUMP : GENL_OP.CMD_CAP_DO)))
      return { kind: 'error', errno: E.EOPNOTSUPP };
    if (op.flags & GENL_OP.ADMIN_PERM && !this.hasCapNetAdmin(req.sock.portid))
      return { kind: 'error', errno: E.EPERM };
    const tlvs = walkTlvs(req.payload, hdrlen, req.payload.length, 16);
    const policy = isDump ? op.dumpPolicy : op.doPolicy;
    let tb = new Map<number, Tlv>();
    if (policy) {
      const f = validateTlvs(tlvs, policy);
      if (f) {
        const r: SimResult = { kind: 'error', errno: f.errno, extack: { msg: f.msg, offs: f.offs } };
        if (f.policy) r.policy = f.policy;
        return r;
      }
      tb = toTb(tlvs, policy.maxattr);
    }
    return fam.def.handle({ req, ctx, family: fam, cmd, version, isDump, tb, tlvs });
  }

  // ---- nlctrl -------------------------------------------------------------------------------------

  private ctrlDef(): GenlFamilyDef {
    const getfamily: PolicyTable = {
      name: 'ctrl_policy_family',
      maxattr: CTRL_ATTR.FAMILY_NAME,
      attrs: { [CTRL_ATTR.FAMILY_ID]: pol.u16(), [CTRL_ATTR.FAMILY_NAME]: pol.nulString(15) },
    };
    const getpolicy: PolicyTable = {
      name: 'ctrl_policy_policy',
      maxattr: CTRL_ATTR.OP,
      attrs: {
        [CTRL_ATTR.FAMILY_ID]: pol.u16(),
        [CTRL_ATTR.FAMILY_NAME]: pol.nulString(15),
        [CTRL_ATTR.OP]: pol.u32(),
      },
    };
    const D = GENL_OP.CMD_CAP_DO;
    const U = GENL_OP.CMD_CAP_DUMP;
    return {
      name: 'nlctrl',
      version: 2,
      hdrsize: 0,
      maxattr: 0,
      netnsok: true,
      mcastGroups: ['notify'],
      ops: [
        { cmd: CTRL_CMD.GETFAMILY, flags: D | U, doPolicy: getfamily, dumpPolicy: getfamily },
        { cmd: CTRL_CMD.GETPOLICY, flags: U, dumpPolicy: getpolicy },
      ],
      handle: (r) => this.ctrl(r),
    };
  }

  private visible(f: RegisteredFamily, netns: string): boolean {
    return f.def.netnsok || netns === 'default';
  }

  private ctrl(r: GenlRequest): SimResult {
    if (r.cmd === CTRL_CMD.GETFAMILY) return r.isDump ? this.dumpFamilies(r) : this.getFamily(r);
    return this.dumpPolicy(r);
  }

  private lookup(r: GenlRequest): { fam?: RegisteredFamily; errno: number } {
    let fam: RegisteredFamily | undefined;
    let errno: number = E.EINVAL;
    const idAttr = r.tb.get(CTRL_ATTR.FAMILY_ID);
    if (idAttr) {
      fam = this.families.get(idAttr.payload[0]! | (idAttr.payload[1]! << 8));
      errno = E.ENOENT;
    }
    const nameAttr = r.tb.get(CTRL_ATTR.FAMILY_NAME);
    if (nameAttr) {
      const name = cstr(nameAttr.payload);
      fam = this.family(name);
      errno = E.ENOENT;
    }
    if (fam && !this.visible(fam, r.req.sock.netns)) fam = undefined;
    return fam ? { fam, errno: 0 } : { errno };
  }

  private getFamily(r: GenlRequest): SimResult {
    const { fam, errno } = this.lookup(r);
    if (!fam) return { kind: 'error', errno };
    r.ctx.unicast(this.familyMsg(fam, 0, r.req.header.seq, r.req.sock.portid));
    return { kind: 'ok' };
  }

  private dumpFamilies(r: GenlRequest): SimResult {
    const msgs = [...this.families.values()]
      .sort((a, b) => a.id - b.id)
      .filter((f) => this.visible(f, r.req.sock.netns))
      .map((f) => this.familyMsg(f, NLM_F.MULTI, r.req.header.seq, r.req.sock.portid));
    return { kind: 'dump', messages: msgs, doneSeparate: true };
  }

  /** CTRL_CMD_NEWFAMILY (`ctrl_fill_info`): NAME, ID, VERSION, HDRSIZE, MAXATTR, OPS, MCAST_GROUPS */
  familyMsg(f: RegisteredFamily, flags: number, seq: number, pid: number): Uint8Array {
    const attrs: Attr[] = [
      { type: CTRL_ATTR.FAMILY_NAME, name: 'FAMILY_NAME', value: f.def.name },
      { type: CTRL_ATTR.FAMILY_ID, name: 'FAMILY_ID', value: f.id },
      { type: CTRL_ATTR.VERSION, name: 'VERSION', value: f.def.version },
      { type: CTRL_ATTR.HDRSIZE, name: 'HDRSIZE', value: f.def.hdrsize },
      { type: CTRL_ATTR.MAXATTR, name: 'MAXATTR', value: f.def.maxattr },
    ];
    if (f.def.ops.length) {
      attrs.push({
        type: CTRL_ATTR.OPS,
        name: 'OPS',
        flagBits: 0,
        value: f.def.ops.map((o, i) => ({
          type: i + 1,
          name: 'OP',
          flagBits: 0,
          value: [
            { type: 1, name: 'OP_ID', value: o.cmd },
            { type: 2, name: 'OP_FLAGS', value: opFlags(o) },
          ],
        })),
      });
    }
    if (f.groups.length) {
      attrs.push({
        type: CTRL_ATTR.MCAST_GROUPS,
        name: 'MCAST_GROUPS',
        flagBits: 0,
        value: f.groups.map((g, i) => ({
          type: i + 1,
          name: 'MCAST_GRP',
          flagBits: 0,
          value: [
            { type: 2, name: 'MCAST_GRP_ID', value: g.id },
            { type: 1, name: 'MCAST_GRP_NAME', value: g.name },
          ],
        })),
      });
    }
    return encodeGenl(
      { type: GENL_ID_CTRL, flags, seq, pid, cmd: CTRL_CMD.NEWFAMILY, version: 2, attrs },
      ctrlFamily,
    );
  }

  /** CTRL_CMD_GETPOLICY (`ctrl_dumppolicy_start`, `ctrl_dumppolicy`): OP_POLICY messages, then POLICY ones */
  private dumpPolicy(r: GenlRequest): SimResult {
    if (!r.tb.has(CTRL_ATTR.FAMILY_ID) && !r.tb.has(CTRL_ATTR.FAMILY_NAME))
      return { kind: 'error', errno: E.EINVAL };
    const { fam, errno } = this.lookup(r);
    if (!fam) return { kind: 'error', errno };
    let ops = fam.def.ops;
    const opAttr = r.tb.get(CTRL_ATTR.OP);
    if (opAttr) {
      const want = new DataView(opAttr.payload.buffer, opAttr.payload.byteOffset, 4).getUint32(0, true);
      ops = ops.filter((o) => o.cmd === want);
      if (ops.length === 0) return { kind: 'error', errno: E.ENOENT, extack: { offs: opAttr.offset } };
    }
    const state = new PolicyDumpState();
    for (const o of ops) {
      if (o.doPolicy && o.doPolicy.maxattr > 0) state.add(o.doPolicy);
      if (o.dumpPolicy && o.dumpPolicy.maxattr > 0) state.add(o.dumpPolicy);
    }
    if (state.tables.length === 0) return { kind: 'error', errno: E.ENODATA };
    const seq = r.req.header.seq;
    const pid = r.req.sock.portid;
    const famAttr: Attr = { type: CTRL_ATTR.FAMILY_ID, name: 'FAMILY_ID', value: fam.id };
    const msg = (a: Attr) =>
      encodeGenl(
        {
          type: GENL_ID_CTRL,
          flags: NLM_F.MULTI,
          seq,
          pid,
          cmd: CTRL_CMD.GETPOLICY,
          version: 2,
          attrs: [famAttr, a],
        },
        ctrlFamily,
      );
    const messages: Uint8Array[] = [];
    for (const o of ops) {
      const d = state.idx(o.doPolicy);
      const u = state.idx(o.dumpPolicy);
      if (d === undefined && u === undefined) continue;
      const inner: Attr[] = [];
      if (d !== undefined) inner.push({ type: 1, name: 'POLICY_DO', value: d });
      if (u !== undefined) inner.push({ type: 2, name: 'POLICY_DUMP', value: u });
      // ctrl_dumppolicy_put_op nests under `doit->cmd`: a dump-only op (zeroed doit) appears as cmd 0
      const nestType = o.flags & GENL_OP.CMD_CAP_DO ? o.cmd : 0;
      messages.push(
        msg({
          type: CTRL_ATTR.OP_POLICY,
          name: 'OP_POLICY',
          flagBits: 0x8000,
          value: [{ type: nestType, name: 'CMD', flagBits: 0x8000, value: inner }],
        }),
      );
    }
    state.tables.forEach((t, idx) => {
      for (let type = 0; type <= t.maxattr; type++) {
        const p = t.attrs[type];
        if (!p) continue;
        const nestedInfo = p.nested ? { idx: state.idx(p.nested)!, maxtype: p.nested.maxattr } : undefined;
        const desc: Attr = { type, name: 'ATTR', flagBits: 0x8000, value: policyAttrs(p, nestedInfo) };
        messages.push(
          msg({
            type: CTRL_ATTR.POLICY,
            name: 'POLICY',
            flagBits: 0x8000,
            value: [{ type: idx, name: 'IDX', flagBits: 0x8000, value: [desc] }],
          }),
        );
      }
    });
    return { kind: 'dump', messages, doneSeparate: true };
  }
}

/** nlctrl OP_FLAGS: the op's flags plus CMD_CAP_HASPOL when either split op has a policy */
export function opFlags(o: GenlOpSpec): number {
  return o.flags | (o.doPolicy || o.dumpPolicy ? GENL_OP.CMD_CAP_HASPOL : 0);
}

export function cstr(b: Uint8Array): string {
  const z = b.indexOf(0);
  return new TextDecoder('latin1').decode(z < 0 ? b : b.subarray(0, z));
}
