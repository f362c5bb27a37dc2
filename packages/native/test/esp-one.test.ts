/**
 * The single-packet ESP calls (`espBind`, `espEncapOne`, `espDecapOne`): argument checks, and the state
 * they read and write through the bound arrays. Their semantics (= EspSa's TypeScript path) are tested in
 * packages/core/test/esp/native-single.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  ESP_ONE_STAGE,
  ESP_PARAMS,
  ESP_PARAMS_LEN,
  ESP_STATE,
  ESP_STATE_LEN,
  ESP_STATE_ONE_LEN,
  native,
} from '../src/index.ts';

describe.skipIf(!native)('single-packet ESP calls', () => {
  const api = native!;
  const key = new Uint8Array(16).fill(7);
  const salt = new Uint8Array(4).fill(1);

  function sa() {
    const params = new Uint8Array(ESP_PARAMS_LEN);
    params.set([0, 0, 0x12, 0x34], ESP_PARAMS.SPI);
    params[ESP_PARAMS.ICV_LEN] = 16;
    params[ESP_PARAMS.WINDOW + 3] = 32;
    const state = new Uint32Array(ESP_STATE_ONE_LEN);
    const bmp = new Uint32Array(1);
    const seal = api.gcmCreate(key, salt, true);
    const open = api.gcmCreate(key, salt, false);
    return { params, state, bmp, seal, open };
  }

  /** A transport-mode IPv4/UDP datagram of `len` bytes. */
  function udp(len: number): Uint8Array {
    const p = new Uint8Array(len);
    p.set([0x45, 0, len >> 8, len & 0xff, 0, 0, 0, 0, 64, 17]);
    p.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
    for (let i = 20; i < len; i++) p[i] = i;
    return p;
  }

  it('is in the addon', () => {
    expect(typeof api.espBind).toBe('function');
    expect(typeof api.espEncapOne).toBe('function');
    expect(typeof api.espDecapOne).toBe('function');
  });

  it('checks its arguments', () => {
    const { params, state, bmp, seal, open } = sa();
    const pkt = udp(40);
    const out = new Uint8Array(100);
    expect(() => api.espEncapOne!(seal, pkt, out, 0)).toThrow(/espBind/);
    expect(() => api.espBind!(seal, params, new Uint32Array(ESP_STATE_LEN), null)).toThrow(RangeError);
    expect(() => api.espBind!(seal, params.subarray(0, 8), state, null)).toThrow(RangeError);
    expect(() => api.espBind!(seal, params, state as unknown as Uint32Array, 5 as never)).toThrow(TypeError);
    // a decrypt context needs a bitmap that holds the window
    expect(() => api.espBind!(open, params, state, null)).toThrow(RangeError);
    expect(() => api.espBind!(open, params, state, new Uint32Array(0))).toThrow(RangeError);
    const bad = params.slice();
    bad[ESP_PARAMS.ICV_LEN] = 10;
    expect(() => api.espBind!(seal, bad, state, null)).toThrow(/invalid ESP params/);
    api.espBind!(seal, params, state, null);
    api.espBind!(open, params, state, bmp);
    expect(() => api.espEncapOne!(open, pkt, out, 0)).toThrow(TypeError);
    expect(() => api.espDecapOne!(seal, pkt, out, 0)).toThrow(TypeError);
    expect(() => api.espEncapOne!(seal, pkt, out, 101)).toThrow(RangeError);
    expect(() => api.espEncapOne!(seal, pkt, new Uint16Array(50) as never, 0)).toThrow(TypeError);
    expect(() => (api.espEncapOne as (...a: unknown[]) => number)(seal, pkt, out)).toThrow(TypeError);
    // a bad packet: a status, the sequence number does not move
    expect(api.espEncapOne!(seal, pkt.subarray(0, 10), out, 0)).toBe(-1);
    expect(api.espEncapOne!(seal, pkt, out, 90)).toBe(-14);
    expect(state[ESP_STATE.OSEQ]).toBe(0);
    api.gcmFree(seal);
    expect(() => api.espEncapOne!(seal, pkt, out, 0)).toThrow(/freed/);
    api.gcmFree(open);
  });

  it('round-trips through the bound state, in place and out of place', () => {
    const { params, state, bmp, seal, open } = sa();
    api.espBind!(seal, params, state, null);
    api.espBind!(open, params, state, bmp);
    const pkt = udp(41);
    const esp = new Uint8Array(200);
    const n = api.espEncapOne!(seal, pkt, esp, 3);
    expect(n).toBe(41 + 16 + 3 + 16); // ESP header + IV, 1 pad byte + 2, ICV
    expect(state[ESP_STATE.OSEQ]).toBe(1);
    expect(state[ESP_STATE.PACKETS]).toBe(1);
    expect(state[ESP_STATE.BYTES_LO]).toBe(21);
    const wire = esp.slice(3, 3 + n);
    const back = new Uint8Array(100);
    expect(api.espDecapOne!(open, wire, back, 0)).toBe(41);
    const same = (a: Uint8Array) => {
      // all but the IPv4 checksum (filled in on the way back)
      expect(a.subarray(0, 10)).toEqual(pkt.subarray(0, 10));
      expect(a.subarray(12, 41)).toEqual(pkt.subarray(12));
    };
    same(back);
    expect(state[ESP_STATE.ONE_STAGE]).toBe(ESP_ONE_STAGE.ACCEPTED);
    expect(state[ESP_STATE.ONE_SEQ_LO]).toBe(1);
    expect(state[ESP_STATE.ONE_NEXT_HEADER]).toBe(17);
    expect(state[ESP_STATE.SEQ]).toBe(1);
    expect(bmp[0]).toBe(1);
    // the same again: a duplicate, dropped at the replay check
    expect(api.espDecapOne!(open, wire, back, 0)).toBe(-7);
    expect(state[ESP_STATE.ONE_STAGE]).toBe(ESP_ONE_STAGE.PREPARE);
    expect(state[ESP_STATE.REPLAY]).toBe(1);
    // in place (the window top is taken from the state words the caller loads)
    state[ESP_STATE.SEQ] = 0;
    bmp[0] = 0;
    const inPlace = wire.slice();
    expect(api.espDecapOne!(open, inPlace, inPlace, 0)).toBe(41);
    same(inPlace);
    // tampered: ICV failure, counted, nothing released
    state[ESP_STATE.SEQ] = 0;
    bmp[0] = 0;
    const t = wire.slice();
    t[30]! ^= 1;
    const out = new Uint8Array(100).fill(0xee);
    expect(api.espDecapOne!(open, t, out, 0)).toBe(-9);
    expect(state[ESP_STATE.ONE_STAGE]).toBe(ESP_ONE_STAGE.OPENED);
    expect(state[ESP_STATE.INTEGRITY_FAILED]).toBe(1);
    expect(out.subarray(20, 41).every((b) => b === 0)).toBe(true);
    api.gcmFree(seal);
    api.gcmFree(open);
  });
});
