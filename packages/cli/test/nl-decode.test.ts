/** `xfrmkit nl decode` through the real binary on fixtures, strace dumps and plain hex. */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const FIX = join(import.meta.dirname, '../../netlink/test/fixtures');
const REF = join(import.meta.dirname, '../../netlink/test/xfrm/reference-captures');

function decode(args: string[], input?: string): Array<Record<string, unknown>> {
  const out = execFileSync(BIN, ['nl', 'decode', ...args], { encoding: 'utf8', input });
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('xfrmkit nl decode', () => {
  it('decodes an strace capture of a refused ESP state: types, flags, errno name, extack; key redacted', () => {
    const msgs = decode([join(REF, '06-state-add-aead-refused.txt')]);
    expect(msgs[0]).toMatchObject({ dir: 'send', type: 'XFRM_MSG_NEWSA', flags: ['REQUEST', 'ACK'] });
    const aead = (msgs[0]!.attrs as Array<{ name: string; value: { key: string; name: string } }>).find(
      (a) => a.name === 'ALG_AEAD',
    )!;
    expect(aead.value.name).toBe('rfc4106(gcm(aes))');
    expect(aead.value.key).toBe('<redacted 28 bytes>');
    expect(JSON.stringify(msgs)).not.toContain('0102030405060708090a0b0c');
    expect(msgs[1]).toMatchObject({
      dir: 'recv',
      type: 'NLMSG_ERROR',
      error: '-ENOSYS',
      extack: { msg: 'Requested AEAD algorithm not found' },
    });
  });

  it('auto-detects a devlink conversation and names devlink commands from the learned family id', () => {
    const msgs = decode([join(FIX, 'iproute2-6.15/devlink/05-eswitch-set-switchdev.txt')]);
    expect(msgs.map((m) => m.cmd ?? m.type)).toEqual([
      'GETFAMILY',
      'NEWFAMILY',
      'NLMSG_ERROR',
      'ESWITCH_SET',
      'NLMSG_ERROR',
    ]);
    const attrs = msgs[3]!.attrs as Array<{ name: string; value: unknown }>;
    expect(attrs.find((a) => a.name === 'ESWITCH_MODE')?.value).toBe(1);
  });

  it('reads plain hex from stdin; malformed bytes give a typed error line and exit 1', () => {
    const ok = decode(['--family', 'xfrm', '-'], '1400000025000100a803046b00000000ffffffff\n');
    expect(ok[0]).toMatchObject({ type: 'XFRM_MSG_GETSPDINFO', body: 4294967295 });
    const r = spawnSync(BIN, ['nl', 'decode', '--family', 'xfrm', '-'], {
      input: '4000000010000500\n',
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    const line = JSON.parse(r.stdout.trim());
    expect(line).toMatchObject({ error: 'NetlinkDecodeError' });
    expect(line.what).toMatch(/truncated|past the end/);
  });

  it('bad options exit 2', () => {
    expect(spawnSync(BIN, ['nl', 'decode', '--family', 'rtnl'], { input: '' }).status).toBe(2);
  });
});
