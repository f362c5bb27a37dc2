/**
 * Fuzz: ≥ 100k random and mutated real devlink / nlctrl datagrams (iproute2 fixtures both ways,
 * kernel nlctrl captures) through the datagram decoder, the devlink domain decoders and the event
 * mapper. The only exception allowed is NetlinkDecodeError; whatever decodes must re-encode without
 * throwing. Deterministic (seeded), bounded in time.
 */
import { describe, expect, it } from 'vitest';
import { devlinkEventOf } from '../../src/client/devlink.ts';
import {
  decodeDevice,
  decodeEswitch,
  decodeInfo,
  decodeParam,
  decodePort,
} from '../../src/devlink/domain.ts';
import { devlinkFamily } from '../../src/devlink/tables.ts';
import { decodeFamilyInfo, foldPolicyMessages } from '../../src/genl/resolve.ts';
import { decodeDatagram, encodeDatagram, GenlRegistry, type NetlinkMessage } from '../../src/message.ts';
import { NetlinkDecodeError } from '../../src/wire/errors.ts';
import { loadIproute2DevlinkFixtures, loadKernelCaptures } from './helpers.ts';

/** xorshift32: deterministic and fast */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of loadIproute2DevlinkFixtures()) for (const l of f.lines) out.push(l.bytes);
  for (const c of loadKernelCaptures()) out.push(c.request, ...c.datagrams);
  // keep distinct ones
  const seen = new Set<string>();
  return out.filter((b) => {
    const k = Buffer.from(b).toString('hex');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = src.slice();
  const n = 1 + (r() % 4);
  for (let i = 0; i < n; i++) {
    const op = r() % 8;
    const at = b.length ? r() % b.length : 0;
    switch (op) {
      case 0: // bit flip
        if (b.length) b[at]! ^= 1 << (r() % 8);
        break;
      case 1: // random byte
        if (b.length) b[at] = r() & 0xff;
        break;
      case 2: // truncate
        b = b.slice(0, r() % (b.length + 1));
        break;
      case 3: {
        // corrupt a 16-bit length/type field at a 4-aligned offset (nla_len / nla_type / nlmsg_len)
        const o = at & ~3;
        if (o + 1 < b.length) {
          const v = r() % 3 === 0 ? r() & 0xffff : ((b[o]! | (b[o + 1]! << 8)) + (r() % 17) - 8) & 0xffff;
          b[o] = v & 0xff;
          b[o + 1] = v >> 8;
        }
        break;
      }
      case 4: {
        // splice in random bytes
        const ins = new Uint8Array(1 + (r() % 24)).map(() => r() & 0xff);
        const nb = new Uint8Array(b.length + ins.length);
        nb.set(b.subarray(0, at));
        nb.set(ins, at);
        nb.set(b.subarray(at), at + ins.length);
        b = nb;
        break;
      }
      case 5: // duplicate a chunk (repeated attributes, nests inside nests)
        if (b.length > 8) {
          const s = r() % b.length;
          const e = Math.min(b.length, s + 4 + (r() % 64));
          const nb = new Uint8Array(b.length + (e - s));
          nb.set(b.subarray(0, e));
          nb.set(b.subarray(s, e), e);
          nb.set(b.subarray(e), e + (e - s));
          b = nb;
        }
        break;
      case 6: // set the NLA_F_NESTED / NET_BYTEORDER bits of a type field
        if ((at | 3) < b.length) b[at | 3]! ^= 0x80 >> (r() % 2);
        break;
      default: // random genl cmd / type byte of the first header
        if (b.length > 16) b[16] = r() % 90;
    }
  }
  return b;
}

function randomDatagram(r: () => number): Uint8Array {
  const len = 16 + (r() % 200);
  const b = new Uint8Array(len).map(() => r() & 0xff);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, r() % 3 === 0 ? r() % (len + 8) : len, true);
  dv.setUint16(4, [0x10, 0x16, 2, 3, 0x16][r() % 5]!, true);
  return b;
}

function exercise(msgs: NetlinkMessage[], genl: GenlRegistry): void {
  for (const m of msgs) {
    if (m.kind !== 'genl') continue;
    if (m.family === 'devlink') {
      devlinkEventOf(m);
      for (const dec of [decodeDevice, decodePort, decodeParam, decodeInfo, decodeEswitch]) {
        try {
          dec(m.genl.attrs);
        } catch (e) {
          if (!(e instanceof NetlinkDecodeError)) throw e;
        }
      }
    } else if (m.family === 'nlctrl') {
      try {
        decodeFamilyInfo(m.genl.attrs);
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) throw e;
      }
      foldPolicyMessages([m]);
    }
  }
  encodeDatagram(msgs, genl);
}

describe('devlink / nlctrl decoder fuzz', () => {
  it('≥ 100k random and mutated datagrams: only NetlinkDecodeError, decodable ones re-encode', () => {
    const genl = new GenlRegistry().define(devlinkFamily);
    genl.bind(0x16, 'devlink');
    const base = seeds();
    expect(base.length).toBeGreaterThan(50);
    const r = rng(0x5eed1234);
    const N = 110_000;
    let decoded = 0;
    let typed = 0;
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      const d = i % 10 === 9 ? randomDatagram(r) : mutate(base[r() % base.length]!, r);
      let msgs: NetlinkMessage[];
      try {
        msgs = decodeDatagram(d, 'genl', genl);
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) {
          throw new Error(
            `non-typed ${(e as Error).name} for ${Buffer.from(d).toString('hex')}: ${(e as Error).message}`,
          );
        }
        typed++;
        continue;
      }
      decoded++;
      try {
        exercise(msgs, genl);
      } catch (e) {
        throw new Error(
          `${(e as Error).name} after decode of ${Buffer.from(d).toString('hex')}: ${(e as Error).message}`,
        );
      }
    }
    const ms = Date.now() - t0;
    expect(decoded + typed).toBe(N);
    // both outcomes occur: the mutations are neither all fatal nor all harmless
    expect(decoded).toBeGreaterThan(N / 10);
    expect(typed).toBeGreaterThan(N / 10);
    expect(ms).toBeLessThan(20_000);
  });

  it('deep nesting is refused with a typed error, not a stack overflow', () => {
    const genl = new GenlRegistry().define(devlinkFamily);
    genl.bind(0x16, 'devlink');
    // 5000 nested DEV_STATS (156|NESTED) around nothing
    const depth = 5000;
    const total = 20 + depth * 4;
    const b = new Uint8Array(total);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, total, true);
    dv.setUint16(4, 0x16, true);
    b[16] = 3;
    b[17] = 1;
    for (let i = 0; i < depth; i++) {
      const off = 20 + i * 4;
      dv.setUint16(off, total - off, true);
      dv.setUint16(off + 2, 156 | 0x8000, true);
    }
    expect(() => decodeDatagram(b, 'genl', genl)).toThrow(NetlinkDecodeError);
    expect(() => decodeDatagram(b, 'genl', genl)).toThrow(/nested deeper than 32/);
  });
});
