/**
 * fast-check arbitraries derived from the codec tables themselves: a struct codec's field list,
 * scalar codec descriptions and attribute sets are enough to generate any message.
 */
import fc from 'fast-check';
import type { AttrSet, PayloadCodec, StructCodec } from '../../src/index.ts';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const ipv6 = fc
  .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(':'));
export const address = fc.oneof(ipv4, ipv6);

export function arbForCodec(codec: PayloadCodec<unknown>): fc.Arbitrary<unknown> {
  const d = codec.desc;
  if ('fields' in codec) {
    const sc = codec as StructCodec<unknown>;
    const rec: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [name, , c] of sc.fields) rec[name] = arbForCodec(c);
    return fc.record(rec);
  }
  switch (d) {
    case 'u8':
      return fc.nat(0xff);
    case 'u16':
    case 'be16':
      return fc.nat(0xffff);
    case 'u32':
    case 'be32':
      return fc.nat(0xffffffff);
    case 's32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'u64':
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 'uint':
      return fc.nat(0xffffffff);
    case 'xfrm_address_t':
      return address;
    case 'flag':
      return fc.constant(true);
    case 'string':
      return fc.string({
        unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_.:/'.split('')),
        maxLength: 20,
      });
    case 'binary':
      return fc.uint8Array({ maxLength: 40 });
    case 'bitfield32':
      return fc.record({ value: fc.nat(0xffffffff), selector: fc.nat(0xffffffff) });
  }
  if (/^char\[(\d+)\]$/.test(d)) {
    return fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz()0123456789,'.split('')),
      maxLength: 40,
    });
  }
  const fixed = /^u8\[(\d+)\]$/.exec(d);
  if (fixed) {
    const n = Number(fixed[1]);
    return fc.uint8Array({ minLength: n, maxLength: n }).filter((b) => b.some((x) => x !== 0));
  }
  if (d.startsWith('struct xfrm_algo') && d.endsWith('+ key')) {
    return fc
      .record({
        name: fc.constantFrom('rfc4106(gcm(aes))', 'cbc(aes)', 'hmac(sha256)', 'deflate'),
        key: fc.uint8Array({ maxLength: 36 }),
        truncLen: fc.nat(512),
        icvLen: fc.constantFrom(64, 96, 128),
      })
      .map((a) => {
        const base = { name: a.name, keyLen: a.key.length * 8, key: a.key };
        if (d.includes('xfrm_algo_auth')) return { ...base, truncLen: a.truncLen };
        if (d.includes('xfrm_algo_aead')) return { ...base, icvLen: a.icvLen };
        return base;
      });
  }
  if (d.startsWith('struct xfrm_replay_state_esn')) {
    return fc
      .record({
        bmp: fc.array(fc.nat(0xffffffff), { maxLength: 8 }),
        oseq: fc.nat(0xffffffff),
        seq: fc.nat(0xffffffff),
        oseqHi: fc.nat(0xffffffff),
        seqHi: fc.nat(0xffffffff),
        replayWindow: fc.nat(4096),
      })
      .map((r) => ({ ...r, bmpLen: r.bmp.length }));
  }
  if (d.startsWith('struct xfrm_user_sec_ctx')) {
    return fc
      .uint8Array({ maxLength: 30 })
      .map((ctx) => ({ len: 8 + ctx.length, exttype: 8, ctxAlg: 1, ctxDoi: 1, ctxLen: ctx.length, ctx }));
  }
  if (d.endsWith('[]')) throw new Error(`give struct arrays explicitly: ${d}`);
  if (d.startsWith('nest ')) throw new Error(`give nests explicitly: ${d}`);
  throw new Error(`no arbitrary for codec ${d}`);
}

/** Arbitrary ordered attribute lists for an attribute set (each attribute at most once). */
export function arbAttrs(
  set: AttrSet,
  special: Record<string, fc.Arbitrary<unknown>> = {},
): fc.Arbitrary<Array<{ name: string; value: unknown }>> {
  const entries = [...set.byName.values()].map((spec) => {
    const arb = special[spec.name] ?? arbForCodec(spec.codec);
    return arb.map((value) => ({ name: spec.name, value }));
  });
  return fc
    .subarray(entries.map((_, i) => i))
    .chain((idx) =>
      idx.length
        ? fc
            .tuple(...idx.map((i) => entries[i]!))
            .chain((xs) => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }))
        : fc.constant([]),
    );
}
