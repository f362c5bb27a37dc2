/**
 * Comparing XFRM netlink traffic of two endpoints (a kernel and the simulator) byte for byte: the
 * one normalisation the differential suites (host kernel: packages/sim/test/xfrm, VM kernel:
 * packages/oracle) apply, and the helper that lets the simulator follow the kernel's random SPI.
 */

export const PORT_MARK = 0x7e7e7e7e;

/**
 * THE normalisation (the only place where kernel and simulator bytes may differ), applied to every
 * message of every datagram:
 *
 * 1. header `nlmsg_pid` equal to the receiving socket's own port id → PORT_MARK: unicast replies,
 *    acks, errors and DONE are addressed to the requester, whose port id differs per socket.
 *    Notifications carry the request's nlmsg_pid field (what the test sent), left as is. The port id
 *    also cannot occur elsewhere (requests are generated with nlmsg_pid ∈ {0, 4242, 0xdeadbeef}).
 * 2. every `curlft.add_time` (seconds of the wall clock at insertion: usersa_info / userpolicy_info
 *    bodies, XFRMA_SA / XFRMA_POLICY inside DEL notifications, XFRMA_LTIME_VAL of NEWAE) → 0, only
 *    when it lies within ±5 s of now (any other value stays and shows up as a difference).
 * 3. the `seq` of ACQUIRE messages (the kernel's acquire counter is global to all namespaces and
 *    shared with other key managers, so its value depends on the machine's history) → 0.
 *
 * ALLOCSPI's random SPI choice is not normalised: the harness feeds the kernel's choice to the
 * simulator's random source (XfrmHandler.queueRandom), so both tables stay identical.
 */
export function normaliseXfrmDiff(dgrams: readonly Uint8Array[], portid: number): string[] {
  const now = Date.now() / 1000;
  return dgrams.map((d0) => {
    const d = d0.slice();
    const dv = new DataView(d.buffer);
    const zeroTime = (at: number) => {
      if (at + 8 > d.length) return;
      const t = Number(dv.getBigUint64(at, true));
      if (Math.abs(t - now) <= 5) dv.setBigUint64(at, 0n, true);
    };
    const attrs = (from: number, end: number, fn: (type: number, payload: number) => void) => {
      let off = from;
      while (off + 4 <= end) {
        const len = dv.getUint16(off, true);
        if (len < 4 || off + len > end) break;
        fn(dv.getUint16(off + 2, true) & 0x3fff, off + 4);
        off += (len + 3) & ~3;
      }
    };
    let off = 0;
    while (off + 16 <= d.length) {
      const len = dv.getUint32(off, true);
      if (len < 16 || off + len > d.length) break;
      const type = dv.getUint16(off + 4, true);
      if (dv.getUint32(off + 12, true) === portid >>> 0) dv.setUint32(off + 12, PORT_MARK, true);
      const end = off + len;
      const b = off + 16;
      if ((type === 0x10 || type === 0x1a) && len >= 16 + 224) zeroTime(b + 176);
      else if ((type === 0x13 || type === 0x19) && len >= 16 + 168) zeroTime(b + 136);
      else if (type === 0x18 && len >= 16 + 232) zeroTime(b + 176);
      else if (type === 0x1b && len >= 16 + 176) zeroTime(b + 136);
      else if (type === 0x11) attrs(b + 24, end, (t, p) => t === 6 && zeroTime(p + 176));
      else if (type === 0x14) attrs(b + 64, end, (t, p) => t === 7 && zeroTime(p + 136));
      else if (type === 0x1e) attrs(b + 48, end, (t, p) => t === 9 && zeroTime(p + 16));
      else if (type === 0x17 && len >= 16 + 280) dv.setUint32(b + 276, 0, true);
      off += (len + 3) & ~3;
    }
    return Buffer.from(d).toString('hex');
  });
}

/** The SPI of an ALLOCSPI reply (NEWSA unicast), if the datagrams hold one. */
export function allocatedSpi(dgrams: readonly Uint8Array[]): number | undefined {
  for (const d of dgrams) {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    if (d.length >= 16 + 224 && dv.getUint16(4, true) === 0x10 && dv.getUint16(6, true) === 0) {
      return dv.getUint32(16 + 72, false);
    }
  }
  return undefined;
}
