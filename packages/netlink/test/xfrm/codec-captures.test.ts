import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeDatagram, encodeDatagram, getAttr, type NetlinkMessage } from '../../src/index.ts';
import { parseHexInput } from '../../src/tools/hexinput.ts';

const DIR = join(import.meta.dirname, 'reference-captures');
const files = readdirSync(DIR).filter((f) => /^\d\d-.*\.txt$/.test(f) && Number(f.slice(0, 2)) <= 19);

function load(name: string) {
  return parseHexInput(readFileSync(join(DIR, name), 'utf8').split('# ---- raw strace output ----')[0]!);
}

describe('real kernel + iproute2 captures', () => {
  it('has the captures', () => {
    expect(files.length).toBeGreaterThanOrEqual(19);
  });

  for (const f of files) {
    it(`${f}: every datagram decodes and re-encodes to the same bytes`, () => {
      const dgrams = load(f);
      expect(dgrams.length).toBeGreaterThan(0);
      for (const d of dgrams) {
        const msgs = decodeDatagram(d.bytes, 'xfrm');
        expect(msgs.length).toBeGreaterThan(0);
        expect(Buffer.from(encodeDatagram(msgs)).toString('hex')).toBe(Buffer.from(d.bytes).toString('hex'));
      }
    });
  }

  const first = (f: string, dir: 'send' | 'recv', i = 0): NetlinkMessage[] =>
    decodeDatagram(load(f).filter((d) => d.dir === dir)[i]!.bytes, 'xfrm');

  it('01: NEWPOLICY fields are typed', () => {
    const [m] = first('01-policy-add.txt', 'send');
    if (m?.kind !== 'xfrm') throw new Error('not xfrm');
    const body = m.xfrm.body as {
      sel: { daddr: string; saddr: string; prefixlenD: number };
      priority: number;
      dir: number;
    };
    expect(body.sel.daddr).toBe('10.0.0.2');
    expect(body.sel.saddr).toBe('10.0.0.1');
    expect(body.sel.prefixlenD).toBe(32);
    expect(body.priority).toBe(100);
    expect(body.dir).toBe(1);
    const tmpl = getAttr<Array<{ reqid: number; mode: number; id: { proto: number; daddr: string } }>>(
      m.xfrm.attrs,
      'TMPL',
    );
    expect(tmpl).toHaveLength(1);
    expect(tmpl![0]).toMatchObject({ reqid: 1, mode: 1, id: { proto: 50, daddr: '10.0.0.2' } });
    const [ack] = first('01-policy-add.txt', 'recv');
    expect(ack?.kind).toBe('error');
    if (ack?.kind === 'error') expect(ack.error.error).toBe(0);
  });

  it('06: refused AEAD state carries ENOSYS and the extack text, echoing the request', () => {
    const [req] = first('06-state-add-aead-refused.txt', 'send');
    const [err] = first('06-state-add-aead-refused.txt', 'recv');
    if (err?.kind !== 'error' || req?.kind !== 'xfrm') throw new Error('shape');
    expect(err.error.error).toBe(-38);
    expect(getAttr(err.error.tlvs, 'MSG')).toBe('Requested AEAD algorithm not found');
    expect(err.error.requestPayload?.length).toBe(req.header.len - 16);
    const aead = getAttr<{ name: string; keyLen: number; icvLen: number }>(req.xfrm.attrs, 'ALG_AEAD');
    expect(aead).toMatchObject({ name: 'rfc4106(gcm(aes))', keyLen: 224, icvLen: 128 });
  });

  it('02: policy dump entry and separate DONE', () => {
    const recvs = load('02-policy-dump.txt').filter((d) => d.dir === 'recv');
    const entry = decodeDatagram(recvs[0]!.bytes, 'xfrm')[0]!;
    const done = decodeDatagram(recvs[1]!.bytes, 'xfrm')[0]!;
    expect(entry.kind).toBe('xfrm');
    expect(entry.header.flags).toBe(2);
    if (entry.kind === 'xfrm') expect((entry.xfrm.body as { index: number }).index).toBe(1);
    expect(done.kind).toBe('done');
  });
});
