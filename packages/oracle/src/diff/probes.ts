/**
 * One NEWSA per algorithm name of the XFRM table (and per compat name): AEAD and encryption on ESP,
 * authentication on AH, compression on IPCOMP, with a key of the size the algorithm takes.
 */
import { type AttrInput, encodeXfrm } from '@xfrmkit/netlink';
import { ALGORITHMS, usersaInfo } from '@xfrmkit/sim';

const KEY_BITS: Record<string, number> = {
  'rfc4106(gcm(aes))': 160,
  'rfc4309(ccm(aes))': 152,
  'rfc4543(gcm(aes))': 160,
  'rfc7539esp(chacha20,poly1305)': 288,
  'hmac(md5)': 128,
  'hmac(sha1)': 160,
  'hmac(sha256)': 256,
  'hmac(sha384)': 384,
  'hmac(sha512)': 512,
  'xcbc(aes)': 128,
  'cmac(aes)': 128,
  'hmac(sm3)': 256,
  'cbc(des)': 64,
  'cbc(des3_ede)': 192,
  'rfc3686(ctr(aes))': 160,
};

export interface Probe {
  name: string;
  bytes: Uint8Array;
}

export function algorithmProbes(): Probe[] {
  const out: Probe[] = [];
  let spi = 0x7000;
  for (const [kind, list] of Object.entries(ALGORITHMS)) {
    for (const e of list) {
      for (const name of e.compat ? [e.name, e.compat] : [e.name]) {
        const bits = kind === 'comp' || /null/.test(e.name) ? 0 : (KEY_BITS[e.name] ?? 128);
        const key = new Uint8Array(bits >> 3).fill(0x33);
        const attrs: AttrInput[] = [];
        let proto = 50;
        if (kind === 'aead')
          attrs.push({ name: 'ALG_AEAD', value: { name, keyLen: bits, key, icvLen: e.icvTrunc ?? 128 } });
        else if (kind === 'crypt') attrs.push({ name: 'ALG_CRYPT', value: { name, keyLen: bits, key } });
        else if (kind === 'auth') {
          proto = 51;
          attrs.push({ name: 'ALG_AUTH', value: { name, keyLen: bits, key } });
        } else {
          proto = 108;
          attrs.push({ name: 'ALG_COMP', value: { name, keyLen: 0, key } });
        }
        spi++;
        const info = usersaInfo({
          daddr: '10.9.0.1',
          saddr: '10.9.0.2',
          spi: proto === 108 ? spi & 0xffff : spi,
          proto,
          mode: 1,
        });
        out.push({ name, bytes: encodeXfrm({ type: 0x10, flags: 5, seq: 0, pid: 0, body: info, attrs }) });
      }
    }
  }
  return out;
}
