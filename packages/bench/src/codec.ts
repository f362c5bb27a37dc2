/**
 * Codec benchmarks: decode + encode of the seed's NEWSA request (the `offload packet` state as
 * iproute2 6.15 sends it), and decode of a 1000-policy dump.
 */
import { performance } from 'node:perf_hooks';
import { infiniteLifetime, userTmpl, zeroCurLifetime } from '@xfrmkit/core';
import { decodeDatagram, encodeDatagram, encodeXfrm, HOST_SELECTOR } from '@xfrmkit/netlink';
import { type BenchOptions, type BenchResult, measureRate, result } from './harness.ts';

/** The seed SA, `ip xfrm state add … aead rfc4106(gcm(aes)) … offload packet dev p0 dir out`, as a NEWSA. */
export function seedNewsa(): Uint8Array {
  const key = Uint8Array.from(
    Buffer.from('c57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d08058a27c', 'hex'),
  );
  return encodeXfrm({
    type: 0x10,
    flags: 5,
    seq: 1,
    pid: 0,
    body: {
      sel: HOST_SELECTOR('192.168.1.64', '192.168.1.65'),
      id: { daddr: '192.168.1.65', spi: 0x4834535d, proto: 50 },
      saddr: '192.168.1.64',
      lft: infiniteLifetime(),
      curlft: zeroCurLifetime(),
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      seq: 0,
      reqid: 0x4834535d,
      family: 2,
      mode: 0,
      replayWindow: 0,
      flags: 0,
    },
    attrs: [
      { name: 'ALG_AEAD', value: { name: 'rfc4106(gcm(aes))', keyLen: 288, icvLen: 128, key } },
      { name: 'OFFLOAD_DEV', value: { ifindex: 2, flags: 4 } },
      { name: 'SA_DIR', value: 2 },
    ],
  });
}

/**
 * Runs `fn` for about `ms` before it is measured: the codec's generated functions are compiled by
 * the optimising tier in the background, which on a busy machine can outlast the harness's warm-up
 * (quick mode: 50 ms), so the samples would time the unoptimised code.
 */
function warmUp(fn: () => void, ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) for (let i = 0; i < 100; i++) fn();
}

export async function codecBenchmarks(opts: BenchOptions): Promise<BenchResult[]> {
  const newsa = seedNewsa();
  const out: BenchResult[] = [];
  const roundTrip = () => {
    encodeDatagram(decodeDatagram(newsa, 'xfrm'));
  };
  warmUp(roundTrip, 500);
  const newsaSamples = await measureRate('codec.newsa', roundTrip, 1, opts);
  out.push(result('codec.newsa', `decode+encode of one ${newsa.length}-byte NEWSA`, 'msg/s', newsaSamples));

  // a 1000-policy dump: 1000 NEWPOLICY messages (one template each), decoded + re-encoded
  const n = 1000;
  const msgs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    msgs.push(
      encodeXfrm({
        type: 0x13,
        flags: 2,
        seq: 1,
        pid: 1,
        body: {
          sel: HOST_SELECTOR('10.0.0.1', `10.${(i >> 8) & 255}.${i & 255}.2`),
          lft: infiniteLifetime(),
          curlft: { bytes: 0n, packets: 0n, addTime: 1700000000n, useTime: 0n },
          priority: 100,
          index: 8 * i + 1,
          dir: 1,
          action: 0,
          flags: 0,
          share: 0,
        },
        attrs: [
          {
            name: 'TMPL',
            value: [
              userTmpl({
                id: { daddr: '10.0.0.2', spi: 0, proto: 50 },
                family: 2,
                saddr: '10.0.0.1',
                reqid: i,
                mode: 1,
              }),
            ],
          },
          { name: 'POLICY_TYPE', value: { type: 0, reserved1: 0, reserved2: 0 } },
        ],
      }),
    );
  }
  const dumpRoundTrip = () => {
    for (const m of msgs) encodeDatagram(decodeDatagram(m, 'xfrm'));
  };
  warmUp(dumpRoundTrip, 500);
  const dumpSamples = await measureRate('codec.dump1000', dumpRoundTrip, n, opts);
  out.push(result('codec.dump1000', 'decode+encode per message of a 1000-policy dump', 'msg/s', dumpSamples));
  return out;
}
