/**
 * Every captured `ip xfrm …` run (iproute2 6.1 and 6.15 against the real kernel,
 * packages/netlink/test/fixtures/iproute2-<ver>/ip-xfrm) replayed through `xfrmkit ip`: our requests
 * are answered with the kernel's recorded datagrams (sequence numbers rewritten to ours), and
 * stdout, stderr and the exit status must equal what the real `ip` printed. This covers the list/get/
 * count/getdefault outputs and the error texts (`RTNETLINK answers: …`, `Error: <extack>.`).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend.ts';
import { runIp } from '../src/commands/ip.ts';
import { shellWords } from '../src/iproute2/shellwords.ts';

import { type Fixture, load as loadTool, ReplayTransport } from './support/fixture-replay.ts';

const load = (persona: '6.1' | '6.15'): Fixture[] => loadTool(persona, 'ip-xfrm');

function replayBackend(t: ReplayTransport): Backend {
  return {
    kind: 'kernel',
    describe: 'capture replay',
    open: async () => t,
    ifindex: (n) => (n === 'p0' ? 2 : 0),
    ifname: (i) => (i === 2 ? 'p0' : undefined),
    close: async () => {},
  };
}

const fixtures = [...load('6.1'), ...load('6.15')];
// deleteall: iproute2 sends its DELSA/DELPOLICY batch without NLM_F_ACK, xfrmkit asks for acks, so the
// recorded replies cannot answer it (the kernel-backed tests cover deleteall)
const replayable = fixtures.filter((f) => !/ deleteall /.test(`${f.command} `));

describe('xfrmkit ip replays the ip-xfrm captures with iproute2 output', () => {
  it('covers every list/get/count capture of both versions', () => {
    const printing = replayable.filter((f) => / (list|get|count|getdefault|allocspi)\b/.test(f.command));
    expect(printing.filter((f) => f.persona === '6.1').length).toBeGreaterThanOrEqual(15);
    expect(printing.filter((f) => f.persona === '6.15').length).toBeGreaterThanOrEqual(15);
    expect(printing.filter((f) => f.stdout !== '').length).toBeGreaterThanOrEqual(26);
  });

  for (const fx of replayable) {
    it(`${fx.file}: ${fx.command.slice(0, 100)}`, async () => {
      const words = shellWords(fx.command);
      expect(words[0]).toBe('ip');
      const t = new ReplayTransport(6, fx.dgrams);
      let out = '';
      let err = '';
      const code = await runIp(
        ['--iproute2', fx.persona, ...words.slice(1)],
        { out: (s) => (out += s), err: (s) => (err += s) },
        async () => replayBackend(t),
      );
      expect({ code, out, err }).toEqual({ code: fx.exit, out: fx.stdout, err: fx.stderr });
      expect(t.exhausted).toBe(true);
      expect(t.sent.length).toBe(fx.dgrams.filter((d) => d.dir === 'send').length);
    });
  }
});
