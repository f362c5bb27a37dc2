/**
 * JSON view of decoded messages for people: names for types and flags, errno names, extack, and
 * key material redacted (the length is shown, never the bytes).
 */
import type { GenlRegistry, NetlinkMessage } from '../message.ts';
import type { Attr } from '../schema/attrs.ts';
import { extackOf } from '../wire/control.ts';
import { errnoName } from '../wire/errno.ts';
import { flagNames, NLMSG } from '../wire/nlmsg.ts';
import { xfrmMsgName } from '../xfrm/messages.ts';

const KEY_FIELDS = new Set(['key']);

/** Replaces key bytes inside algorithm structs; converts bigint and bytes to JSON-friendly forms. */
export function toJsonValue(v: unknown, parentKey = ''): unknown {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) {
    if (KEY_FIELDS.has(parentKey)) return `<redacted ${v.length} bytes>`;
    return Buffer.from(v).toString('hex');
  }
  if (Array.isArray(v)) return v.map((x) => toJsonValue(x, parentKey));
  if (v && typeof v === 'object') {
    if (isAttr(v)) return attrToJson(v);
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = toJsonValue(x, k);
    return o;
  }
  return v;
}

function isAttr(v: object): v is Attr {
  return 'type' in v && 'name' in v && 'value' in v && typeof (v as Attr).name === 'string';
}

function attrToJson(a: Attr): unknown {
  const o: Record<string, unknown> = { type: a.type, name: a.name, value: toJsonValue(a.value, a.name) };
  if (a.flagBits) o.flags = a.flagBits;
  if (a.raw) o.raw_len = a.raw.length;
  return o;
}

function attrsToJson(attrs: Attr[]): unknown[] {
  return attrs.map(attrToJson);
}

export function messageToJson(m: NetlinkMessage, genl?: GenlRegistry): Record<string, unknown> {
  const h = m.header;
  let typeName: string;
  switch (m.kind) {
    case 'error':
      typeName = 'NLMSG_ERROR';
      break;
    case 'done':
      typeName = 'NLMSG_DONE';
      break;
    case 'control':
      typeName =
        h.type === NLMSG.NOOP
          ? 'NLMSG_NOOP'
          : h.type === NLMSG.OVERRUN
            ? 'NLMSG_OVERRUN'
            : `0x${h.type.toString(16)}`;
      break;
    case 'xfrm':
      typeName = `XFRM_MSG_${xfrmMsgName(h.type)}`;
      break;
    case 'genl':
      typeName = m.family ? `${m.family}` : `genl 0x${h.type.toString(16)}`;
      break;
  }
  const out: Record<string, unknown> = {
    type: typeName,
    flags: flagNames(h.flags, h.type),
    header: { len: h.len, type: h.type, flags: h.flags, seq: h.seq, pid: h.pid },
  };
  if (m.kind === 'error') {
    out.error = m.error.error === 0 ? 0 : `-${errnoName(-m.error.error)}`;
    out.errno = m.error.error;
    out.request = { header: m.error.request, payload_len: m.error.requestPayload?.length ?? 0 };
    const e = extackOf(m.error.tlvs);
    if (Object.keys(e).length) out.extack = toJsonValue(e);
  } else if (m.kind === 'done') {
    out.error = m.done.error === 0 ? 0 : `-${errnoName(-m.done.error)}`;
    const e = extackOf(m.done.tlvs);
    if (Object.keys(e).length) out.extack = toJsonValue(e);
  } else if (m.kind === 'control') {
    out.payload = Buffer.from(m.payload).toString('hex');
  } else if (m.kind === 'xfrm') {
    if (m.xfrm.body !== undefined) out.body = toJsonValue(m.xfrm.body);
    out.attrs = attrsToJson(m.xfrm.attrs);
    if (m.xfrm.leftover) out.leftover_bytes = m.xfrm.leftover.length;
  } else {
    const fam = genl?.get(h.type);
    out.cmd = fam ? fam.cmdName(m.genl.cmd) : m.genl.cmd;
    out.genl = { cmd: m.genl.cmd, version: m.genl.version };
    out.attrs = attrsToJson(m.genl.attrs);
    if (m.genl.leftover) out.leftover_bytes = m.genl.leftover.length;
  }
  return out;
}
