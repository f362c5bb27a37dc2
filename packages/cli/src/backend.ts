/**
 * Where `xfrmkit ip …` / `xfrmkit devlink …` send their netlink requests:
 *
 *   --backend sim      (default) the simulator: `--sim PATH` (or env XFRMKIT_SIM) connects to a
 *                      `xfrmkit sim serve --socket PATH` server; without it a fresh in-process machine
 *                      built by `createSimMachine(--profile bf3|bf2|cx7|cx6dx)` serves this invocation
 *                      (all lines of a `-batch` file share it).
 *   --backend kernel   the running kernel, inside `--netns NAME` when given (/run/netns/NAME).
 *
 * Device names resolve through the backend: the simulator's netdev table, or the kernel's links in
 * the chosen namespace (RTM_GETLINK; /sys/class/net/NAME/ifindex without a namespace as fallback).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { KernelTransport, type Transport } from '@xfrmkit/netlink';
import { CliUsageError } from './usage.ts';

export const NETLINK_ROUTE = 0;
export const NETLINK_XFRM = 6;
export const NETLINK_GENERIC = 16;

export type BackendKind = 'sim' | 'kernel';
export const PROFILES = ['bf3', 'bf2', 'cx7', 'cx6dx'] as const;
export type SimProfile = (typeof PROFILES)[number];

export interface BackendOptions {
  backend: BackendKind;
  /** unix socket of a running simulator (`--sim PATH` / XFRMKIT_SIM) */
  sim?: string;
  /** named network namespace for the kernel backend */
  netns?: string;
  /** device profile of a fresh in-process simulator */
  profile: SimProfile;
}

export class BackendError extends Error {
  override readonly name = 'BackendError';
}

/**
 * Takes the backend options out of an option list: `--backend B`, `--sim PATH`, `--netns NAME`,
 * `--profile P` (also `--opt=value`). Returns the options and the remaining words in order.
 */
export function extractBackendOptions(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { opts: BackendOptions; rest: string[] } {
  const opts: BackendOptions = { backend: 'sim', profile: 'bf3' };
  const rest: string[] = [];
  let simFromFlag: string | undefined;
  let backendGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--(backend|sim|netns|profile)(?:=(.*))?$/.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    const key = m[1]!;
    let v = m[2];
    if (v === undefined) {
      v = argv[++i];
      if (v === undefined) throw new CliUsageError(`--${key} needs a value`);
    }
    if (key === 'backend') {
      if (v !== 'sim' && v !== 'kernel')
        throw new CliUsageError(`--backend must be sim or kernel (got "${v}")`);
      opts.backend = v;
      backendGiven = true;
    } else if (key === 'sim') simFromFlag = v;
    else if (key === 'netns') opts.netns = v;
    else {
      if (!(PROFILES as readonly string[]).includes(v))
        throw new CliUsageError(`--profile must be one of ${PROFILES.join(', ')} (got "${v}")`);
      opts.profile = v as SimProfile;
    }
  }
  const sim = simFromFlag ?? (env.XFRMKIT_SIM || undefined);
  if (sim !== undefined) opts.sim = sim;
  if (simFromFlag !== undefined && opts.backend === 'kernel')
    throw new CliUsageError('--sim applies to --backend sim only');
  if (opts.netns !== undefined && opts.backend === 'sim' && backendGiven) {
    throw new CliUsageError('--netns applies to --backend kernel only');
  }
  if (opts.netns !== undefined && !backendGiven) opts.backend = 'kernel';
  return { opts, rest };
}

/** One backend for one invocation: opens netlink sockets and resolves device names. */
export interface Backend {
  readonly kind: BackendKind;
  /** a human name for messages ("simulator bf3", "kernel netns xk-1") */
  readonly describe: string;
  open(protocol: number): Promise<Transport>;
  /** if_nametoindex(); 0 when unknown */
  ifindex(name: string): number;
  /** if_indextoname(); undefined when unknown */
  ifname(ifindex: number): string | undefined;
  close(): Promise<void>;
}

interface SimModule {
  createSimMachine?: (profile: string) => unknown;
  InProcTransport: new (machine: never, protocol: number, opts?: { netns?: string }) => Transport;
  UnixTransport: { open(path: string, protocol: number): Promise<Transport> };
}

async function loadSim(): Promise<SimModule> {
  try {
    // a variable specifier keeps the CLI loadable where @xfrmkit/sim is not installed
    const spec = '@xfrmkit/sim';
    return (await import(spec)) as SimModule;
  } catch (e) {
    throw new BackendError(
      `the simulator backend needs the @xfrmkit/sim package (${(e as Error).message}); use --backend kernel`,
    );
  }
}

/**
 * The netdev table of a simulated machine. Contract with @xfrmkit/sim: the machine (or the object
 * `createSimMachine` returns) has `netdevs`: an iterable (array, Map values, or a function returning
 * one) of `{ name, ifindex }`.
 */
export function simNetdevTable(machine: unknown): Map<string, number> {
  const table = new Map<string, number>();
  const m = machine as { netdevs?: unknown };
  let src: unknown = m?.netdevs;
  if (typeof src === 'function') src = (src as () => unknown).call(machine);
  if (src && typeof (src as { list?: unknown }).list === 'function')
    src = (src as { list(): unknown }).list();
  if (src instanceof Map) src = [...src.values()];
  if (src && typeof (src as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const d of src as Iterable<{ name?: unknown; ifindex?: unknown }>) {
      if (typeof d?.name === 'string' && typeof d.ifindex === 'number') table.set(d.name, d.ifindex);
    }
  }
  return table;
}

/** The machine object inside whatever createSimMachine returns (a SimMachine, or `{ machine }`). */
function machineOf(created: unknown): unknown {
  const c = created as { machine?: unknown; openSocket?: unknown };
  if (c && typeof c.openSocket === 'function') return c;
  if (c?.machine) return c.machine;
  return created;
}

async function createMachine(sim: SimModule, profile: SimProfile): Promise<unknown> {
  if (typeof sim.createSimMachine !== 'function') {
    throw new BackendError(
      '@xfrmkit/sim does not export createSimMachine(profile) yet: no in-process simulator is available. ' +
        'Start one with `xfrmkit sim serve --socket PATH` and pass --sim PATH, or use --backend kernel',
    );
  }
  return sim.createSimMachine(profile);
}

class NameTable {
  constructor(readonly byName: Map<string, number>) {}
  ifindex(name: string): number {
    return this.byName.get(name) ?? 0;
  }
  ifname(ifindex: number): string | undefined {
    for (const [n, i] of this.byName) if (i === ifindex) return n;
    return undefined;
  }
}

class SimBackend implements Backend {
  readonly kind = 'sim';
  private readonly opened: Transport[] = [];
  constructor(
    private readonly sim: SimModule,
    private readonly machine: unknown,
    private readonly path: string | undefined,
    private readonly names: NameTable,
    readonly describe: string,
  ) {}
  async open(protocol: number): Promise<Transport> {
    let t: Transport;
    if (this.path !== undefined) {
      try {
        t = await this.sim.UnixTransport.open(this.path, protocol);
      } catch (e) {
        throw new BackendError(`cannot reach the simulator at ${this.path}: ${(e as Error).message}`);
      }
    } else {
      t = new this.sim.InProcTransport(this.machine as never, protocol);
    }
    this.opened.push(t);
    return t;
  }
  ifindex(name: string): number {
    return this.names.ifindex(name);
  }
  ifname(ifindex: number): string | undefined {
    return this.names.ifname(ifindex);
  }
  async close(): Promise<void> {
    for (const t of this.opened.splice(0)) t.close();
  }
}

class KernelBackend implements Backend {
  readonly kind = 'kernel';
  private readonly opened: Transport[] = [];
  constructor(
    private readonly netns: string | undefined,
    private readonly names: NameTable,
    readonly describe: string,
  ) {}
  async open(protocol: number): Promise<Transport> {
    const t = await KernelTransport.open(
      this.netns === undefined ? { protocol } : { protocol, netns: this.netns },
    );
    this.opened.push(t);
    return t;
  }
  ifindex(name: string): number {
    return this.names.ifindex(name);
  }
  ifname(ifindex: number): string | undefined {
    return this.names.ifname(ifindex);
  }
  async close(): Promise<void> {
    for (const t of this.opened.splice(0)) t.close();
  }
}

/** RTM_GETLINK dump over a NETLINK_ROUTE transport: ifname -> ifindex of every link. */
export async function rtnlLinks(t: Transport, timeoutMs = 5000): Promise<Map<string, number>> {
  const RTM_GETLINK = 18;
  const RTM_NEWLINK = 16;
  const IFLA_IFNAME = 3;
  const seq = (Date.now() / 1000) >>> 0;
  const req = Buffer.alloc(32);
  req.writeUInt32LE(32, 0);
  req.writeUInt16LE(RTM_GETLINK, 4);
  req.writeUInt16LE(0x1 | 0x300, 6); // NLM_F_REQUEST | NLM_F_DUMP
  req.writeUInt32LE(seq, 8);
  const out = new Map<string, number>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new BackendError('RTM_GETLINK: no answer')), timeoutMs);
    t.onClose((err) => {
      clearTimeout(timer);
      reject(err ?? new BackendError('RTM_GETLINK: socket closed'));
    });
    t.onDatagram((d) => {
      const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      let off = 0;
      while (off + 16 <= b.length) {
        const len = b.readUInt32LE(off);
        const type = b.readUInt16LE(off + 4);
        if (len < 16 || off + len > b.length) break;
        if (b.readUInt32LE(off + 8) === seq) {
          if (type === 3 /* NLMSG_DONE */) {
            clearTimeout(timer);
            resolve(out);
            return;
          }
          if (type === 2 /* NLMSG_ERROR */) {
            clearTimeout(timer);
            reject(new BackendError(`RTM_GETLINK failed: errno ${-b.readInt32LE(off + 16)}`));
            return;
          }
          if (type === RTM_NEWLINK && len >= 32) {
            const ifindex = b.readInt32LE(off + 20);
            let a = off + 32;
            while (a + 4 <= off + len) {
              const alen = b.readUInt16LE(a);
              const atype = b.readUInt16LE(a + 2) & 0x3fff;
              if (alen < 4) break;
              if (atype === IFLA_IFNAME) {
                const raw = b.subarray(a + 4, a + alen);
                const nul = raw.indexOf(0);
                out.set(raw.subarray(0, nul < 0 ? raw.length : nul).toString(), ifindex);
              }
              a += (alen + 3) & ~3;
            }
          }
        }
        off += (len + 3) & ~3;
      }
    });
    t.send(req);
  });
}

function sysfsLinks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of readdirSync('/sys/class/net')) {
    try {
      out.set(name, Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim()));
    } catch {
      // a link that vanished meanwhile
    }
  }
  return out;
}

async function kernelLinks(netns: string | undefined): Promise<Map<string, number>> {
  try {
    const t = await KernelTransport.open(
      netns === undefined ? { protocol: NETLINK_ROUTE } : { protocol: NETLINK_ROUTE, netns },
    );
    try {
      return await rtnlLinks(t);
    } finally {
      t.close();
    }
  } catch (e) {
    if (netns !== undefined)
      throw new BackendError(`cannot list the links of netns "${netns}": ${(e as Error).message}`);
    return sysfsLinks();
  }
}

/** Builds the backend an invocation asked for. */
export async function openBackend(opts: BackendOptions): Promise<Backend> {
  if (opts.backend === 'kernel') {
    const links = await kernelLinks(opts.netns);
    return new KernelBackend(
      opts.netns,
      new NameTable(links),
      opts.netns ? `kernel netns ${opts.netns}` : 'kernel',
    );
  }
  const sim = await loadSim();
  if (opts.sim !== undefined) {
    // the remote machine's netdevs follow its profile; a local machine of the same profile names them
    const names =
      typeof sim.createSimMachine === 'function'
        ? simNetdevTable(await sim.createSimMachine(opts.profile))
        : new Map<string, number>();
    return new SimBackend(sim, undefined, opts.sim, new NameTable(names), `simulator at ${opts.sim}`);
  }
  const created = await createMachine(sim, opts.profile);
  const machine = machineOf(created);
  return new SimBackend(
    sim,
    machine,
    undefined,
    new NameTable(simNetdevTable(created)),
    `simulator ${opts.profile}`,
  );
}
