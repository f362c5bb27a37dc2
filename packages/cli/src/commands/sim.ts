/**
 * `xfrmkit sim serve|exec|trace …`: the simulator as a service (`serve`), unmodified netlink
 * programs run against it through the LD_PRELOAD shim (`exec`), and packet traces (`trace`).
 */

import type { TraceStep } from '@xfrmkit/sim';
import { hostFrame } from '@xfrmkit/sim';
import { runExec, runServe } from '../sim/serve.ts';
import { CliUsageError } from '../usage.ts';
import { buildSeedTopology, parseDemoArgs } from './demo.ts';

const USAGE =
  'usage: xfrmkit sim serve --socket PATH [--profile P] | exec [--profile P] [--socket PATH] -- CMD… | trace [--profile P] [--size S] [--modeled-crypto]';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve':
      return runServe(rest);
    case 'exec':
      return runExec(rest);
    case 'trace':
      return runTrace(rest);
    default:
      throw new CliUsageError(USAGE);
  }
}

// ---- trace ------------------------------------------------------------------------------------------

function traceRows(dev: string, steps: readonly TraceStep[]): string[] {
  return steps.map((t) => {
    const hit = t.hit === null ? '-' : t.hit ? 'hit' : 'miss';
    return `  ${dev.padEnd(4)} ${t.stage.padEnd(15)} ${t.table.padEnd(13)} ${hit.padEnd(5)} ${t.cycles.toFixed(1).padStart(8)}  ${t.action}`;
  });
}

/**
 * `xfrmkit sim trace [--profile bf3] [--size S]`: builds the seed scenario (as `xfrmkit demo`) and
 * prints the stage-by-stage path of one VXLAN frame from host L to host R: stage, table, hit/miss,
 * cycles, action — BFL's TX datapath, the wire, BFR's RX datapath.
 */
export async function runTrace(argv: string[]): Promise<number> {
  const o = parseDemoArgs(argv, ['--profile', '--size', '--modeled-crypto']);
  const size = o.size === 'imix' ? 590 : o.size;
  const quiet = { out: () => {}, err: (s: string) => process.stderr.write(s) };
  const { topo } = await buildSeedTopology(o, quiet);
  try {
    const frame = hostFrame(topo.hostL, topo.hostR, size, 1);
    const d = topo.send('left', frame, 1);
    const out: string[] = [
      `one ${size}-byte UDP frame ${topo.hostL.ip} → ${topo.hostR.ip}, VXLAN ${topo.bfl.ip} → ${topo.bfr.ip} (UDP 4789), profile ${o.profile}${o.modeledCrypto ? ', MODELED CRYPTO' : ''}`,
      `  ${'dev'.padEnd(4)} ${'stage'.padEnd(15)} ${'table'.padEnd(13)} ${'hit'.padEnd(5)} ${'cycles'.padStart(8)}  action`,
    ];
    let total = 0;
    if (d.tx) {
      out.push(...traceRows('BFL', d.tx.trace));
      total += d.tx.latencyCycles;
    }
    for (const w of d.wire) out.push(`  ${'wire'.padEnd(4)} ${`${w.length} B ESP frame`.padEnd(15)}`);
    for (const r of d.rx ?? []) {
      out.push(...traceRows('BFR', r.trace));
      total += r.latencyCycles;
    }
    const ns = (total / topo.bfl.datapath.costs.clockHz) * 1e9;
    out.push(`  total ${total.toFixed(1)} cycles = ${ns.toFixed(0)} ns`);
    out.push(
      d.delivered
        ? `  delivered to ${topo.hostR.name}: ${d.delivered.length} B, identical to the frame sent: ${Buffer.compare(Buffer.from(d.delivered), Buffer.from(frame)) === 0}`
        : `  dropped: ${d.drop?.where}: ${d.drop?.reason} (${d.drop?.counter})`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return d.delivered ? 0 : 1;
  } finally {
    topo.dispose();
  }
}
