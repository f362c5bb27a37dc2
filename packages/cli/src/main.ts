/**
 * `xfrmkit` command line. Each sub-command lives in `commands/<name>.ts` and exports `run(argv)`.
 */
import { CliUsageError } from './usage.ts';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  bench: {
    summary: 'benchmarks: `bench [--quick] [--only NAME] [--json FILE] [--svg FILE]`',
    load: () => import('./commands/bench.ts'),
  },
  esp: {
    summary: 'ESP test vectors: `esp encrypt|decrypt --in FILE --out FILE`',
    load: () => import('./commands/esp.ts'),
  },
  ip: {
    summary: 'iproute2 `ip xfrm state|policy|monitor …` (`--backend sim|kernel`)',
    load: () => import('./commands/ip.ts'),
  },
  devlink: {
    summary: 'iproute2 `devlink dev|port …` (`--backend sim|kernel`)',
    load: () => import('./commands/devlink.ts'),
  },
  demo: {
    summary:
      'two-BlueField IPsec packet-offload scenario: `demo [--profile P] [--packets N] [--size S|imix] [--pcap FILE] [--modeled-crypto]`',
    load: () => import('./commands/demo.ts'),
  },
  sim: {
    summary: 'simulator: `sim serve --socket PATH`, `sim exec -- CMD…`, `sim trace`',
    load: () => import('./commands/sim.ts'),
  },
  swanctl: {
    summary:
      'strongSwan: `swanctl plan FILE [--profile P]` (SAs, policies and hw_offload outcome per CHILD_SA)',
    load: () => import('./commands/swanctl.ts'),
  },
  ethtool: {
    summary: 'ethtool: `ethtool -S DEV [--sim PATH]` (simulated per-device IPsec counters)',
    load: () => import('./commands/ethtool.ts'),
  },
  nl: {
    summary: 'netlink tools: `nl decode [--family xfrm|genl|devlink|auto] [FILE|-]`',
    load: () => import('./commands/nl.ts'),
  },
  oracle: {
    summary:
      'real-kernel oracle: `oracle diff [--kernel 6.1|6.12] [--runs N] [--seed S] [--suite esp|netdevsim|all]` (simulator vs Debian kernel under qemu)',
    load: () => import('./commands/oracle.ts'),
  },
};

export function usage(): string {
  const lines = ['usage: xfrmkit COMMAND [ARGS…]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${c.summary}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`xfrmkit: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (err) {
    if (err instanceof CliUsageError) {
      process.stderr.write(`xfrmkit ${name}: ${err.message}\n`);
      return 2;
    }
    const e = err as Error;
    process.stderr.write(`xfrmkit ${name}: ${e.name}: ${e.message}\n`);
    return 1;
  }
}
