/**
 * Reads netlink bytes that people paste: plain hex, `strace -xx` output (the `| 00000  …` dumps of
 * `-e read=all -e write=all`, or `"\x.."` strings), xfrmkit fixtures (`send <hex>` / `recv <hex>`) and
 * the `--- SEND … / --- RECV …` blocks of the reference captures. Returns one entry per datagram.
 */

export interface HexDatagram {
  dir: 'send' | 'recv' | 'unknown';
  bytes: Uint8Array;
  /** 1-based line where the datagram starts in the input */
  line: number;
}

export class HexInputError extends Error {
  override readonly name = 'HexInputError';
}

const HEXLINE = /^[0-9a-fA-F\s]+$/;

function hexToBytes(hex: string, line: number): Uint8Array {
  const clean = hex
    .replace(/0x/gi, '')
    .replace(/\\x/g, '')
    .replace(/[\s:,]/g, '');
  if (clean.length % 2 !== 0)
    throw new HexInputError(`line ${line}: odd number of hex digits (${clean.length})`);
  if (!/^[0-9a-fA-F]*$/.test(clean)) throw new HexInputError(`line ${line}: not hex`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

function dirOfSyscall(s: string): 'send' | 'recv' | 'unknown' {
  if (/\b(sendmsg|sendto|send|write|sendmmsg)\(/.test(s) || /SEND/.test(s) || s.startsWith('>>>'))
    return 'send';
  if (/\b(recvmsg|recvfrom|recv|read|recvmmsg)\(/.test(s) || /RECV/.test(s) || s.startsWith('<<<'))
    return 'recv';
  return 'unknown';
}

/** Parses any of the supported text forms. */
export function parseHexInput(text: string): HexDatagram[] {
  const lines = text.split(/\r?\n/);
  const out: HexDatagram[] = [];
  // 1. xfrmkit fixture lines
  if (lines.some((l) => /^(send|recv) [0-9a-f]+$/.test(l))) {
    lines.forEach((l, i) => {
      const m = /^(send|recv) ([0-9a-f]+)$/.exec(l);
      if (m) out.push({ dir: m[1] as 'send' | 'recv', bytes: hexToBytes(m[2]!, i + 1), line: i + 1 });
    });
    return out;
  }
  // 2. strace hex dumps (" | 00000  10 00 …  ascii |"), grouped by the syscall line before them
  if (lines.some((l) => /^\s*\| [0-9a-f]{5} {2}/.test(l))) {
    let cur: { dir: HexDatagram['dir']; hex: string[]; line: number } | undefined;
    let lastDir: HexDatagram['dir'] = 'unknown';
    const flush = () => {
      if (cur?.hex.length)
        out.push({ dir: cur.dir, bytes: hexToBytes(cur.hex.join(''), cur.line), line: cur.line });
      cur = undefined;
    };
    lines.forEach((l, i) => {
      const m = /^\s*\| ([0-9a-f]{5}) {2}((?:[0-9a-f]{2} {1,2}){1,16})/.exec(l);
      if (m) {
        if (!cur || m[1] === '00000') {
          flush();
          cur = { dir: lastDir, hex: [], line: i + 1 };
        }
        cur.hex.push(m[2]!);
        return;
      }
      const d = dirOfSyscall(l);
      if (d !== 'unknown' && !/MSG_PEEK/.test(l)) {
        flush();
        lastDir = d;
      }
    });
    flush();
    return out;
  }
  // 3. reference capture blocks: "--- SEND (sendmsg) 252 bytes" then indented hex lines
  if (lines.some((l) => /^--- (SEND|RECV)/.test(l))) {
    let cur: { dir: HexDatagram['dir']; hex: string[]; line: number } | undefined;
    const flush = () => {
      if (cur?.hex.length)
        out.push({ dir: cur.dir, bytes: hexToBytes(cur.hex.join(''), cur.line), line: cur.line });
      cur = undefined;
    };
    lines.forEach((l, i) => {
      if (/^--- (SEND|RECV)/.test(l)) {
        flush();
        cur = { dir: l.startsWith('--- SEND') ? 'send' : 'recv', hex: [], line: i + 1 };
        return;
      }
      if (!cur) return;
      const t = l.trim();
      if (t === '' || l.startsWith('#')) {
        flush();
        return;
      }
      if (/^[0-9a-f]+$/.test(t) && t.length % 2 === 0) cur.hex.push(t);
    });
    flush();
    return out;
  }
  // 4. strace "\x.." strings, one datagram per syscall line
  if (lines.some((l) => /"(\\x[0-9a-f]{2})+"/.test(l))) {
    lines.forEach((l, i) => {
      if (/MSG_PEEK/.test(l)) return;
      const strings = [...l.matchAll(/"((?:\\x[0-9a-f]{2})+)"/g)].map((m) => m[1]!);
      if (strings.length === 0) return;
      if (/nlmsg_len=/.test(l)) {
        throw new HexInputError(
          `line ${i + 1}: strace decoded the netlink header, so its bytes are not all in the line; run strace with -e write=all -e read=all (hex dumps) and paste those`,
        );
      }
      out.push({ dir: dirOfSyscall(l), bytes: hexToBytes(strings.join(''), i + 1), line: i + 1 });
    });
    return out;
  }
  // 5. plain hex: one datagram per paragraph (blank-line separated); '#' comments ignored
  let para: string[] = [];
  let start = 0;
  const flushPara = () => {
    if (para.length) out.push({ dir: 'unknown', bytes: hexToBytes(para.join(''), start), line: start });
    para = [];
  };
  lines.forEach((l, i) => {
    const t = l.replace(/#.*$/, '').trim();
    if (t === '') {
      flushPara();
      return;
    }
    if (!HEXLINE.test(t.replace(/0x|\\x|[:,]/gi, ''))) throw new HexInputError(`line ${i + 1}: not hex`);
    if (para.length === 0) start = i + 1;
    para.push(t);
  });
  flushPara();
  return out;
}
