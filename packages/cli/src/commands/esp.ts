/**
 * `xfrmkit esp encrypt --in VECTORS.json --out PACKETS.json`
 * `xfrmkit esp decrypt --in PACKETS.json --out RESULTS.json`
 *
 * Runs JSON test vectors through the ESP engine (see packages/core/src/esp/vectors.ts for the
 * contract). `-` reads stdin / writes stdout. Key material never appears in error output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { decryptVector, encryptVector } from '@xfrmkit/core';
import { CliUsageError } from '../usage.ts';

const USAGE = 'usage: xfrmkit esp encrypt|decrypt --in FILE|- --out FILE|-';

export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb !== 'encrypt' && verb !== 'decrypt') throw new CliUsageError(USAGE);
  let input = '-';
  let output = '-';
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--in') input = rest[++i] ?? '';
    else if (a === '--out') output = rest[++i] ?? '';
    else throw new CliUsageError(`unknown argument ${a}\n${USAGE}`);
  }
  if (!input || !output) throw new CliUsageError(USAGE);
  let vectors: unknown;
  try {
    vectors = JSON.parse(readFileSync(input === '-' ? 0 : input, 'utf8'));
  } catch (e) {
    throw new CliUsageError(
      `cannot read ${input === '-' ? 'stdin' : input} as JSON: ${(e as Error).message}`,
    );
  }
  const result = verb === 'encrypt' ? encryptVector(vectors) : decryptVector(vectors);
  const text = `${JSON.stringify(result, null, 2)}\n`;
  if (output === '-') process.stdout.write(text);
  else writeFileSync(output, text);
  const failed = result.filter((r) => 'error' in r && r.error !== undefined).length;
  if (failed)
    process.stderr.write(`xfrmkit esp ${verb}: ${failed} of ${result.length} vectors failed (see "error")\n`);
  return 0;
}
