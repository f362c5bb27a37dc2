/**
 * `xfrmkit ip [OPTIONS] xfrm { state | policy | monitor } …`: iproute2's `ip xfrm` grammar in,
 * iproute2 6.15's output, errors and exit statuses out, against the simulator or the kernel
 * (backend.ts). OPTIONS: -s (repeatable), -j, -p, -d, -4, -6, -batch FILE, -force, -n NETNS (= --netns),
 * --backend sim|kernel, --sim PATH, --netns NAME, --profile P, --iproute2 6.1|6.15 (persona).
 *
 * Exit statuses are iproute2's: 0 ok, 2 when the kernel refused a request (`RTNETLINK answers: …` or
 * `Error: <extack>.`), 255 for command-line errors (invarg/missarg), 1 for an unknown object or a
 * failed dump. Keys given on the command line are sent, and printed by `state list/get` as iproute2
 * does, but never appear in error messages.
 */
import { readFileSync } from 'node:fs';
import type { XfrmUserpolicyInfo, XfrmUsersaInfo } from '@xfrmkit/core';
import {
  type AttrInput,
  errnoText,
  getAttr,
  NetlinkError,
  type NetlinkMessage,
  NLM_F,
  XFRM_MSG,
  XfrmClient,
  type XfrmMessage,
  xfrmRequest,
} from '@xfrmkit/netlink';
import {
  type Backend,
  BackendError,
  type BackendOptions,
  extractBackendOptions,
  NETLINK_XFRM,
  openBackend,
} from '../backend.ts';
import { IpArgError } from '../iproute2/args.ts';
import {
  policyMatches,
  policyOf,
  printMonitorMessage,
  printPolicy,
  printPolicyDefault,
  printSadInfo,
  printSpdInfo,
  printState,
  stateMatches,
  stateOf,
  type XfrmPrintOptions,
} from '../iproute2/print-xfrm.ts';
import { shellWords } from '../iproute2/shellwords.ts';
import { type IproutePersona, type IpXfrmPlan, parseIpXfrm, type XfrmDumpPlan } from '../iproute2/xfrm.ts';

/** Where output goes (replaceable in tests). */
export interface IpIo {
  out(s: string): void;
  err(s: string): void;
}

const stdio: IpIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

interface IpGlobals {
  stats: number;
  json: boolean;
  pretty: boolean;
  details: boolean;
  batch?: string;
  force: boolean;
  persona: IproutePersona;
}

/** An error that ends the command with iproute2's exit status, after its text went to stderr. */
class IpExit extends Error {
  constructor(
    readonly code: number,
    /** false when iproute2 returns the status (batch goes on with -force) instead of calling exit() */
    readonly fatal = true,
  ) {
    super(`exit ${code}`);
  }
}

const VERSION: Record<IproutePersona, string> = {
  '6.1': 'ip utility, iproute2-6.1.0, libbpf 1.1.2',
  '6.15': 'ip utility, iproute2-6.15.0, libbpf 1.4.6',
};

/** iproute2's matches(): `word` is a non-empty prefix of `full`. */
const matches = (word: string, full: string) => word.length > 0 && full.startsWith(word);

function parseGlobals(argv: string[], io: IpIo): { g: IpGlobals; rest: string[]; netns?: string } {
  const g: IpGlobals = {
    stats: 0,
    json: false,
    pretty: false,
    details: false,
    force: false,
    persona: '6.15',
  };
  let netns: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    let a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-')) break;
    if (a === '--iproute2') {
      const v = argv[++i];
      if (v !== '6.1' && v !== '6.15')
        throw new IpArgError(`--iproute2 must be 6.1 or 6.15 (got "${v ?? ''}")`);
      g.persona = v;
      continue;
    }
    if (a.startsWith('--')) a = a.slice(1);
    const opt = a.slice(1);
    if (opt === 's' || (opt.length > 1 && (matches(opt, 'stats') || matches(opt, 'statistics')))) g.stats++;
    else if (opt === 'j' || (opt.length > 1 && matches(opt, 'json'))) g.json = true;
    else if (opt === 'p' || (opt.length > 1 && matches(opt, 'pretty'))) g.pretty = true;
    else if (opt === 'd' || (opt.length > 1 && matches(opt, 'details'))) g.details = true;
    else if (opt === '4' || opt === '6' || opt === '0') {
      // preferred family: the XFRM commands take the family from their addresses
    } else if (opt === 'force') g.force = true;
    else if (opt === 'b' || (opt.length > 1 && matches(opt, 'batch'))) {
      const f = argv[++i];
      if (f === undefined) throw new IpArgError('Command line is not complete. Try option "help"');
      g.batch = f;
    } else if (opt === 'n' || (opt.length > 1 && matches(opt, 'netns'))) {
      const n = argv[++i];
      if (n === undefined) throw new IpArgError('Command line is not complete. Try option "help"');
      netns = n;
    } else if (opt === 'V' || (opt.length > 1 && matches(opt, 'Version'))) {
      io.out(`${VERSION[g.persona]}\n`);
      throw new IpExit(0);
    } else if (opt === 'h' || (opt.length > 1 && matches(opt, 'help'))) {
      io.err(usage());
      throw new IpExit(255);
    } else {
      io.err(`Option "${argv[i]}" is unknown, try "ip -help".\n`);
      throw new IpExit(255);
    }
  }
  return netns === undefined ? { g, rest: argv.slice(i) } : { g, rest: argv.slice(i), netns };
}

function usage(): string {
  return [
    'Usage: xfrmkit ip [ OPTIONS ] xfrm { state | policy | monitor } { COMMAND | help }',
    '       xfrmkit ip [ -force ] -batch filename',
    'OPTIONS := { -s[tatistics] | -d[etails] | -j[son] | -p[retty] | -n[etns] name | -batch FILE | -force }',
    '           [ --backend sim|kernel ] [ --sim PATH ] [ --netns NAME ] [ --profile bf3|bf2|cx7|cx6dx ] [ --iproute2 6.1|6.15 ]',
    '',
  ].join('\n');
}

/** Prints a netlink refusal as iproute2 does (lib/libnetlink.c rtnl_talk_error / nl_dump_ext_ack). */
export function netlinkErrorText(e: NetlinkError): string {
  const msg = e.extack.msg;
  if (msg) return `Error: ${msg}${msg.endsWith('.') ? '' : '.'}\n`;
  return `RTNETLINK answers: ${errnoText(e.errno)}\n`;
}

class IpSession {
  private client?: XfrmClient;
  constructor(
    readonly backend: Backend,
    readonly g: IpGlobals,
    readonly io: IpIo,
  ) {}

  private async xfrm(): Promise<XfrmClient> {
    this.client ??= XfrmClient.over(await this.backend.open(NETLINK_XFRM), { timeoutMs: 30_000 });
    return this.client;
  }

  printOptions(nokeys: boolean): XfrmPrintOptions {
    return { stats: this.g.stats, persona: this.g.persona, nokeys, ifname: (i) => this.backend.ifname(i) };
  }

  close(): void {
    this.client?.close();
  }

  /** One `ip` command line (without the global options). */
  async command(words: string[]): Promise<void> {
    const [obj, ...rest] = words;
    if (obj === undefined) {
      this.io.err(usage());
      throw new IpExit(255);
    }
    if (!matches(obj, 'xfrm')) {
      this.io.err(`Object "${obj}" is unknown, try "ip help".\n`);
      throw new IpExit(1, false);
    }
    if (rest.length === 0 || rest[0] === 'help') {
      this.io.err(
        'Usage: ip xfrm XFRM-OBJECT { COMMAND | help }\nwhere  XFRM-OBJECT := state | policy | monitor\n',
      );
      throw new IpExit(255);
    }
    const [xobj, verb, ...args] = rest;
    const xfrmObj =
      xobj === 'sa' || matches(xobj!, 'state')
        ? 'state'
        : matches(xobj!, 'policy')
          ? 'policy'
          : xobj === 'monitor' || matches(xobj!, 'monitor')
            ? 'monitor'
            : xobj!;
    if (xfrmObj !== 'state' && xfrmObj !== 'policy' && xfrmObj !== 'monitor') {
      this.io.err(
        'Usage: ip xfrm XFRM-OBJECT { COMMAND | help }\nwhere  XFRM-OBJECT := state | policy | monitor\n',
      );
      throw new IpExit(255);
    }
    if (xfrmObj === 'monitor') {
      await this.monitor(verb === undefined ? [] : [verb, ...args]);
      return;
    }
    // `nokeys` (6.15) is a list option the request parser does not know
    let nokeys = false;
    let rest2 = verb === undefined ? [] : [verb, ...args];
    const isList =
      verb === undefined ||
      ['list', 'show', 'lst'].some((v) => v === verb || (verb.length >= 3 && v.startsWith(verb)));
    if (xfrmObj === 'state' && isList && this.g.persona !== '6.1' && rest2.includes('nokeys')) {
      nokeys = true;
      rest2 = rest2.filter((w) => w !== 'nokeys');
    }
    let plan: IpXfrmPlan;
    try {
      plan = parseIpXfrm([xfrmObj, ...rest2], {
        persona: this.g.persona,
        ifindex: (name) => {
          const i = this.backend.ifindex(name);
          if (!i) throw new IpArgError(`Error: argument "${name}" is wrong: Invalid device name`);
          return i;
        },
      });
    } catch (e) {
      if (e instanceof IpArgError) {
        this.io.err(`${e.message}\n`);
        throw new IpExit(255);
      }
      throw e;
    }
    if (plan.kind === 'monitor') {
      await this.monitor(plan.argv);
      return;
    }
    const client = await this.xfrm();
    const opts = this.printOptions(nokeys);
    if (plan.kind === 'dump') {
      await this.dump(client, plan, opts);
      return;
    }
    let res: Awaited<ReturnType<XfrmClient['request']>>;
    try {
      res = await client.request(plan.type, plan.flags, plan.body, plan.attrs);
    } catch (e) {
      if (e instanceof NetlinkError) {
        this.io.err(netlinkErrorText(e));
        throw new IpExit(2);
      }
      throw e;
    }
    if (res.warning) this.io.err(`Warning: ${res.warning}${res.warning.endsWith('.') ? '' : '.'}\n`);
    if (plan.expect !== 'reply') return;
    const m = res.replies.find(
      (r): r is Extract<NetlinkMessage, { kind: 'xfrm' }> => r.kind === 'xfrm',
    )?.xfrm;
    if (!m) {
      this.io.err(`${plan.what}: the kernel answered without a message\n`);
      throw new IpExit(2);
    }
    this.io.out(this.printReply(plan.what, m, opts));
  }

  private printReply(what: string, m: XfrmMessage, o: XfrmPrintOptions): string {
    switch (what) {
      case 'state count':
        return printSadInfo(m, o);
      case 'policy count':
        return printSpdInfo(m, o);
      case 'policy getdefault':
        return printPolicyDefault(m);
      default:
        if (stateOf(m)) return printState(m, o);
        if (policyOf(m)) return printPolicy(m, o);
        return '';
    }
  }

  private async collect(client: XfrmClient, plan: XfrmDumpPlan): Promise<XfrmMessage[]> {
    const out: XfrmMessage[] = [];
    try {
      const it = client.channel.dump({
        msg: xfrmRequest(plan.type, plan.flags, undefined, plan.attrs),
        what: `${plan.what} dump`,
      });
      for await (const m of it) if (m.kind === 'xfrm') out.push(m.xfrm);
    } catch (e) {
      if (e instanceof NetlinkError) {
        this.io.err(netlinkErrorText(e));
        this.io.err('Dump terminated\n');
        throw new IpExit(1);
      }
      throw e;
    }
    return out;
  }

  private matching(plan: XfrmDumpPlan, msgs: XfrmMessage[]): XfrmMessage[] {
    return msgs.filter((m) => {
      if (plan.type === XFRM_MSG.GETSA) {
        const s = stateOf(m);
        return s !== undefined && stateMatches(s, plan.filter);
      }
      const p = policyOf(m);
      if (!p) return false;
      const ptype = getAttr<{ type: number }>(m.attrs, 'POLICY_TYPE')?.type ?? 0;
      return policyMatches(p, ptype, plan.filter);
    });
  }

  private async dump(client: XfrmClient, plan: XfrmDumpPlan, o: XfrmPrintOptions): Promise<void> {
    if (plan.action === 'list') {
      const msgs = this.matching(plan, await this.collect(client, plan));
      const print = plan.type === XFRM_MSG.GETSA ? printState : printPolicy;
      this.io.out(msgs.map((m) => print(m, o)).join(''));
      return;
    }
    // deleteall: dump, delete what matches, until a dump finds nothing (xfrm_*_list_or_deleteall)
    for (let round = 1; ; round++) {
      if (this.g.stats > 1) this.io.err(`Delete-all round = ${round}\n`);
      const victims = this.matching(plan, await this.collect(client, plan)).filter((m) => deletable(m));
      if (victims.length === 0) {
        if (this.g.stats > 1) this.io.err('Delete-all completed\n');
        return;
      }
      const reqs = victims.map((m) => deleteRequest(m));
      const results = await Promise.allSettled(
        client.channel.requestMany(
          reqs.map((r) => ({
            msg: xfrmRequest(r.type, NLM_F.REQUEST | NLM_F.ACK, r.body, r.attrs),
            what: r.what,
          })),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        if (failed.reason instanceof NetlinkError) {
          this.io.err(netlinkErrorText(failed.reason));
          throw new IpExit(2);
        }
        throw failed.reason;
      }
      if (this.g.stats > 1) this.io.err(`Delete-all nlmsg count = ${victims.length}\n`);
    }
  }

  private async monitor(argv: string[]): Promise<void> {
    const groups = new Set<number>();
    const names: Array<[string, number]> = [
      ['acquire', 1],
      ['expire', 2],
      ['SA', 3],
      ['policy', 4],
      ['aevent', 5],
      ['report', 6],
    ];
    for (const a of argv) {
      if (a === 'all') continue;
      if (a === 'help') {
        this.io.err(
          'Usage: ip xfrm monitor [ nokeys ] [ all-nsid ] [ all | OBJECTS | help ]\nOBJECTS := { acquire | expire | SA | aevent | policy | report }\n',
        );
        throw new IpExit(255);
      }
      if (a === 'nokeys' || a === 'all-nsid') continue;
      const hit = names.find(([n]) => matches(a, n));
      if (!hit) {
        this.io.err(`Argument "${a}" is unknown, try "ip xfrm monitor help".\n`);
        throw new IpExit(255);
      }
      groups.add(hit[1]);
    }
    const all = groups.size === 0;
    const join = all ? [1, 2, 3, 4, 5, 6, 7, 8] : [...groups];
    const client = await this.xfrm();
    const o = this.printOptions(argv.includes('nokeys'));
    await new Promise<void>((resolve) => {
      const off = client.subscribe(join, (n) => {
        const text = printMonitorMessage(n.msg, o);
        if (text) this.io.out(text);
        else if (n.msg.type !== 2 && n.msg.type !== 3 && n.msg.type !== 1) {
          this.io.out(
            `Unknown message: ${String(n.msg.type).padStart(8, '0')} 0x${n.msg.type.toString(16).padStart(8, '0')} 0x${n.msg.flags.toString(16).padStart(8, '0')}\n`,
          );
        }
      });
      const stop = () => {
        off();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  }
}

function deletable(m: XfrmMessage): boolean {
  const s = stateOf(m);
  if (s) return s.id.proto !== 4 && s.id.proto !== 41; // IPIP/IPv6 tunnel states belong to the kernel
  const p = policyOf(m) as XfrmUserpolicyInfo | undefined;
  return p !== undefined && p.dir < 3; // socket policies are not deleted
}

function deleteRequest(m: XfrmMessage): { type: number; body: unknown; attrs: AttrInput[]; what: string } {
  const s = stateOf(m) as XfrmUsersaInfo | undefined;
  const mark = getAttr(m.attrs, 'MARK');
  const ifId = getAttr(m.attrs, 'IF_ID');
  if (s) {
    const attrs: AttrInput[] = [{ name: 'SRCADDR', value: s.saddr }];
    if (mark !== undefined) attrs.push({ name: 'MARK', value: mark });
    return {
      type: XFRM_MSG.DELSA,
      body: { daddr: s.id.daddr, spi: s.id.spi, family: s.family, proto: s.id.proto },
      attrs,
      what: 'XFRM_MSG_DELSA',
    };
  }
  const p = policyOf(m)!;
  const attrs: AttrInput[] = [];
  const pt = getAttr(m.attrs, 'POLICY_TYPE');
  if (pt !== undefined) attrs.push({ name: 'POLICY_TYPE', value: pt });
  if (mark !== undefined) attrs.push({ name: 'MARK', value: mark });
  if (ifId !== undefined) attrs.push({ name: 'IF_ID', value: ifId });
  return {
    type: XFRM_MSG.DELPOLICY,
    body: { sel: p.sel, index: p.index, dir: p.dir },
    attrs,
    what: 'XFRM_MSG_DELPOLICY',
  };
}

/** A backend that could not be opened: every use reports why. */
function unavailableBackend(kind: Backend['kind'], why: BackendError): Backend {
  return {
    kind,
    describe: 'unavailable',
    open: async () => {
      throw why;
    },
    ifindex: () => {
      throw why;
    },
    ifname: () => undefined,
    close: async () => {},
  };
}

/** Lines of a -batch file as argument vectors (blank lines and # comments skipped). */
export function batchLines(text: string): Array<{ line: number; words: string[] }> {
  const out: Array<{ line: number; words: string[] }> = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.replace(/#.*$/, '').trim();
    if (t) out.push({ line: i + 1, words: shellWords(t) });
  });
  return out;
}

/** Runs one `ip` invocation; `backendFor` replaces the backend (tests). */
export async function runIp(
  argv: string[],
  io: IpIo = stdio,
  backendFor: (opts: BackendOptions) => Promise<Backend> = openBackend,
): Promise<number> {
  let session: IpSession | undefined;
  let backend: Backend | undefined;
  try {
    const { opts, rest } = extractBackendOptions(argv);
    const { g, rest: words, netns } = parseGlobals(rest, io);
    if (netns !== undefined) {
      opts.netns = netns;
      opts.backend = 'kernel';
    }
    if (g.batch === undefined && words.length === 0) {
      io.err(usage());
      return 255;
    }
    try {
      backend = await backendFor(opts);
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      // iproute2 parses the command line before it talks to the kernel: let parse errors win
      backend = unavailableBackend(opts.backend, e);
    }
    session = new IpSession(backend, g, io);
    if (g.batch === undefined) {
      await session.command(words);
      return 0;
    }
    const text = g.batch === '-' ? readFileSync(0, 'utf8') : readFileSync(g.batch, 'utf8');
    let status = 0;
    for (const { line, words: w } of batchLines(text)) {
      try {
        await session.command(w);
      } catch (e) {
        if (!(e instanceof IpExit) || e.code === 0) throw e;
        // the xfrm code of iproute2 calls exit() on errors, which ends the batch; only a status
        // returned to ip's batch loop prints "Command failed" (and -force goes on)
        if (e.fatal) return e.code;
        io.err(`Command failed ${g.batch}:${line}\n`);
        status = 1;
        if (!g.force) return status;
      }
    }
    return status;
  } catch (e) {
    if (e instanceof IpExit) return e.code;
    if (e instanceof IpArgError) {
      io.err(`${e.message}\n`);
      return 255;
    }
    if (e instanceof BackendError) {
      io.err(`xfrmkit ip: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    session?.close();
    await backend?.close();
  }
}

export function run(argv: string[]): Promise<number> {
  return runIp(argv);
}
