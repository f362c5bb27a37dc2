import { describe, expect, it } from 'vitest';
import { decryptVector, encryptVector } from '../../src/esp/vectors.ts';
import { ipv4, ipv6, toHex } from './util.ts';

const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const base = {
  spi: 0x1001,
  esn: true,
  seq: '4294967301', // 2^32 + 5
  key_hex: KEY,
  salt_hex: 'deadbeef',
  icv_len: 16,
};

describe('encryptVector / decryptVector', () => {
  it('round-trips transport and tunnel vectors over both families and keeps extra fields', () => {
    const inner4 = toHex(ipv4({ proto: 6, payload: new Uint8Array(50).fill(3) }));
    const inner6 = toHex(ipv6({ nh: 17, payload: new Uint8Array(77).fill(4) }));
    const vectors = [
      { ...base, id: 't4', mode: 'transport', ip_version: 4, plaintext_hex: inner4, note: 'kept' },
      { ...base, id: 't6', mode: 'transport', ip_version: 6, plaintext_hex: inner6, icv_len: 8 },
      {
        ...base,
        id: 'u46',
        mode: 'tunnel',
        ip_version: 6,
        tunnel_src: '2001:db8::1',
        tunnel_dst: '2001:db8::2',
        plaintext_hex: inner4,
      },
      {
        ...base,
        id: 'u64',
        mode: 'tunnel',
        ip_version: 4,
        tunnel_src: '192.0.2.1',
        tunnel_dst: '192.0.2.2',
        plaintext_hex: inner6,
        esn: false,
        seq: '7',
        icv_len: 12,
      },
    ];
    const enc = encryptVector(vectors);
    for (const [i, e] of enc.entries()) {
      expect(e.error).toBeUndefined();
      expect(e).toMatchObject(vectors[i]!);
      expect(e.esp_packet_hex).toMatch(/^[0-9a-f]+$/);
      expect(Number.parseInt(e.esp_packet_hex!.slice(0, 1), 16)).toBe(vectors[i]!.ip_version);
    }
    expect(enc[0]?.note).toBe('kept');
    const dec = decryptVector(enc);
    expect(dec.map((d) => [d.id, d.accepted, d.next_header, d.seq])).toEqual([
      ['t4', true, 6, '4294967301'],
      ['t6', true, 17, '4294967301'],
      ['u46', true, 4, '4294967301'],
      ['u64', true, 41, '7'],
    ]);
    for (const [i, d] of dec.entries()) expect(d.plaintext_hex).toBe(vectors[i]!.plaintext_hex);
  });

  it('uses the sequence number as IV unless iv_hex is given', () => {
    const pt = toHex(ipv4({ payload: new Uint8Array(8) }));
    const [a, b] = encryptVector([
      { ...base, id: 1, mode: 'transport', ip_version: 4, plaintext_hex: pt },
      { ...base, id: 2, mode: 'transport', ip_version: 4, plaintext_hex: pt, iv_hex: '0011223344556677' },
    ]);
    expect(a?.esp_packet_hex?.slice(40, 72)).toBe('00001001000000050000000100000005');
    expect(b?.esp_packet_hex?.slice(56, 72)).toBe('0011223344556677');
    expect(decryptVector([b])[0]?.accepted).toBe(true);
  });

  it('reports errors per vector with a code and no key material', () => {
    const pt = toHex(ipv4({ payload: new Uint8Array(8) }));
    const enc = encryptVector([
      { ...base, id: 'key', mode: 'transport', ip_version: 4, plaintext_hex: pt, key_hex: `${KEY}00` },
      { ...base, id: 'seq32', mode: 'transport', ip_version: 4, plaintext_hex: pt, esn: false },
      { ...base, id: 'seq0', mode: 'transport', ip_version: 4, plaintext_hex: pt, seq: '0' },
      { ...base, id: 'ver', mode: 'transport', ip_version: 6, plaintext_hex: pt },
      { ...base, id: 'hex', mode: 'transport', ip_version: 4, plaintext_hex: 'xyz' },
      { ...base, id: 'tun', mode: 'tunnel', ip_version: 4, plaintext_hex: pt },
      { ...base, id: 'trunc', mode: 'transport', ip_version: 4, plaintext_hex: pt.slice(0, 30) },
    ]);
    expect(enc.map((e) => e.error?.split(':')[0])).toEqual([
      'BAD_KEY',
      'SEQ_OVERFLOW',
      'INVALID_SEQ',
      'BAD_CONFIG',
      'BAD_CONFIG',
      'BAD_CONFIG',
      'TRUNCATED',
    ]);
    for (const e of enc) {
      expect(e.esp_packet_hex).toBeUndefined();
      expect(e.error).not.toContain(KEY.slice(0, 10));
    }
    expect(() => encryptVector({})).toThrow(TypeError);
  });

  it('decrypt rejects tampering, replays against seq − 1 and wrong keys', () => {
    const pt = toHex(ipv4({ payload: new Uint8Array(30) }));
    const [e] = encryptVector([{ ...base, id: 'x', mode: 'transport', ip_version: 4, plaintext_hex: pt }]);
    const hexPkt = e!.esp_packet_hex!;
    const flipped = `${hexPkt.slice(0, 60)}${(Number.parseInt(hexPkt[60]!, 16) ^ 1).toString(16)}${hexPkt.slice(61)}`;
    const res = decryptVector([
      { ...e!, esp_packet_hex: flipped },
      { ...e!, seq: '4294967302' }, // receiver top = the packet's number, but its bit is not set: accepted
      { ...e!, key_hex: '00'.repeat(16) },
      { ...e!, seq: '5' }, // receiver in subspace 0: infers seq_hi 0, ICV fails
    ]);
    expect(res.map((r) => [r.accepted, r.error?.split(':')[0]])).toEqual([
      [false, 'ICV_MISMATCH'],
      [true, undefined],
      [false, 'ICV_MISMATCH'],
      [false, 'ICV_MISMATCH'],
    ]);
    expect(res[0]).toEqual({
      id: 'x',
      accepted: false,
      error: expect.stringContaining('ICV does not verify'),
    });
  });
});
