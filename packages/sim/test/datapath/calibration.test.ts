/**
 * Calibration: the cost profiles reproduce the published figures of anchors.md §4 within ±10 %.
 * The stage list is the one the datapath actually walks for a seed VXLAN packet (TX, encrypt); the
 * model is evaluated at each figure's frame size, SA-context count and port count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_PROFILES, hostFrame, LoadAccumulator, type StageVisit } from '../../src/index.ts';
import { type Built, seeded } from '../topology/support.ts';

let b: Built;
let txStages: StageVisit[];
beforeAll(async () => {
  b = await seeded();
  const d = b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 590, 1));
  expect(d.tx!.verdict).toBe('wire');
  txStages = d.tx!.trace.map((s) => ({ stage: s.stage, hops: 1, bytes: 0 }));
});
afterAll(() => b.topo.dispose());

const rows: string[] = [];
afterAll(() => {
  process.stdout.write(`\ncalibration (model vs published)\n${rows.join('\n')}\n`);
});

describe('calibration against published figures (±10 %)', () => {
  for (const p of Object.values(DATAPATH_PROFILES)) {
    for (const pt of p.calibration) {
      it(`${p.id}: ${pt.figure}`, () => {
        const acc = new LoadAccumulator(p, () => pt.saContexts);
        acc.add(
          txStages.map((v) => ({ ...v, bytes: pt.frameBytes })),
          pt.frameBytes,
        );
        const t = acc.throughput(pt.ports)!;
        for (const [unit, model, pub] of [
          ['Gb/s', t.gbps, pt.published.gbps],
          ['Mpps', t.pps / 1e6, pt.published.mpps],
        ] as const) {
          if (pub === undefined) continue;
          const err = (model - pub) / pub;
          rows.push(
            `  ${p.id.padEnd(6)} ${pt.figure.padEnd(78)} model ${model.toFixed(2).padStart(7)} ${unit}  published ${pub.toFixed(2).padStart(7)}  error ${(err * 100).toFixed(1).padStart(5)} %  [${pt.source}]`,
          );
          expect(Math.abs(err)).toBeLessThanOrEqual(0.1);
        }
      });
    }
  }
});
