/**
 * `xfrmkit nl decode [--family xfrm|genl|devlink|auto] [--devlink-id N] [FILE|-]`
 *
 * Reads netlink bytes as hex (plain hex, `strace -xx -e read=all -e write=all` output, xfrmkit
 * fixtures) and prints one JSON object per message. Key material is redacted.
 */
import { readFileSync } from 'node:fs';
import {
  decodeDatagram,
  devlinkFamily,
  GenlRegistry,
  messageToJson,
  NetlinkDecodeError,
  type Protocol,
  parseHexInput,
} from '@xfrmkit/netlink';
import { CliUsageError } from '../usage.ts';

function registry(devlinkId?: number): GenlRegistry {
  const reg = new GenlRegistry().define(devlinkFamily);
  if (devlinkId !== undefined) reg.bind(devlinkId, 'devlink');
  return reg;
}

/** A datagram that starts with an nlctrl message (genl header: cmd 1..10, version ≤ 2, short). */
function looksLikeNlctrl(bytes: Uint8Array): boolean {
  if (bytes.length < 20) return false;
  const len = bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16);
  const type = bytes[4]! | (bytes[5]! << 8);
  const cmd = bytes[16]!;
  const ver = bytes[17]!;
  return type === 0x10 && len < 16 + 224 && cmd >= 1 && cmd <= 10 && ver <= 2;
}

/**
 * `auto`: a capture that talks to nlctrl is a generic netlink conversation (its family ids are
 * learned from the GETFAMILY replies); otherwise XFRM.
 */
function guessProto(all: Uint8Array[]): Protocol {
  return all.some(looksLikeNlctrl) ? 'genl' : 'xfrm';
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'decode')
    throw new CliUsageError(
      'usage: xfrmkit nl decode [--family xfrm|genl|devlink|auto] [--devlink-id N] [FILE|-]',
    );
  let family = 'auto';
  let devlinkId: number | undefined;
  let file = '-';
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--family') {
      family = rest[++i] ?? '';
      if (!['xfrm', 'genl', 'devlink', 'auto'].includes(family))
        throw new CliUsageError(`--family must be xfrm, genl, devlink or auto (got "${family}")`);
    } else if (a === '--devlink-id') {
      devlinkId = Number(rest[++i]);
      if (!Number.isInteger(devlinkId) || devlinkId < 0x10 || devlinkId > 0xffff)
        throw new CliUsageError('--devlink-id must be a genl family id (16..65535)');
    } else if (a.startsWith('-') && a !== '-') {
      throw new CliUsageError(`unknown option ${a}`);
    } else file = a;
  }
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  const reg = registry(devlinkId);
  const dgrams = parseHexInput(text);
  if (dgrams.length === 0) throw new CliUsageError('no netlink bytes found in the input');
  const auto = guessProto(dgrams.map((d) => d.bytes));
  let errors = 0;
  for (const d of dgrams) {
    const proto: Protocol = family === 'xfrm' ? 'xfrm' : family === 'auto' ? auto : 'genl';
    try {
      for (const m of decodeDatagram(d.bytes, proto, reg)) {
        process.stdout.write(`${JSON.stringify({ dir: d.dir, line: d.line, ...messageToJson(m, reg) })}\n`);
      }
    } catch (e) {
      if (!(e instanceof NetlinkDecodeError)) throw e;
      errors++;
      process.stdout.write(
        `${JSON.stringify({ dir: d.dir, line: d.line, error: e.name, what: e.what, offset: e.offset, path: e.path })}\n`,
      );
    }
  }
  return errors ? 1 : 0;
}
