/**
 * OracleVm: a stock Debian kernel (prepared by scripts/prepare.sh) running under qemu with TCG, its
 * netlink reachable through the guest agent (guest/nlbridge.c) on a virtio-serial port.
 *
 *   const vm = await OracleVm.shared();              // restore of the per-run snapshot (boots once)
 *   const t = await vm.open(NETLINK_XFRM, { groups: [1, 2] });   // a netlink Transport
 *   await vm.exec('echo 2 > /sys/bus/netdevsim/devices/netdevsim1/sriov_numvfs');
 *   await vm.shutdown();
 *
 * `OracleVm.skipReason()` says why the oracle cannot run here (no qemu, no prepared kernel).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeFrame, type Frame, FrameDecoder, OP, OPEN_FLAGS, u32s } from './frame.ts';
import { Qmp } from './qmp.ts';
import { VmKernelTransport } from './transport.ts';

export const DEFAULT_CACHE = '/var/cache/xfrmkit/oracle';
export const DEFAULT_SERIES = '6.12';
const QEMU = 'qemu-system-x86_64';

export interface OracleArtifacts {
  dir: string;
  krel: string;
  vmlinuz: string;
  initrd: string;
  /** prepare.sh's input hash (changes when the agent, /init, the module list or the kernel change) */
  stamp: string;
  netdevsim: boolean;
  modules: string[];
}

function cacheRoot(): string {
  return process.env.XFRMKIT_ORACLE_CACHE ?? DEFAULT_CACHE;
}

/** The artefacts of a kernel series, or a sentence saying what is missing. */
export function findArtifacts(
  series = process.env.XFRMKIT_ORACLE_KERNEL ?? DEFAULT_SERIES,
): OracleArtifacts | string {
  const root = cacheRoot();
  const idx = join(root, `${series}.json`);
  const prep = `run \`bash packages/oracle/scripts/prepare.sh\` (XFRMKIT_ORACLE_KERNEL=${series})`;
  if (!existsSync(idx)) return `no prepared kernel ${series} in ${root}: ${prep}`;
  const { krel } = JSON.parse(readFileSync(idx, 'utf8')) as { krel: string };
  const dir = join(root, krel);
  const vmlinuz = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initramfs.cpio.gz');
  for (const f of [vmlinuz, initrd, join(dir, 'stamp'), join(dir, 'manifest.json')]) {
    if (!existsSync(f)) return `${f} is missing: ${prep}`;
  }
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    netdevsim: boolean;
    modules: string;
  };
  return {
    dir,
    krel,
    vmlinuz,
    initrd,
    stamp: readFileSync(join(dir, 'stamp'), 'utf8').trim(),
    netdevsim: m.netdevsim,
    modules: m.modules.split(' ').filter(Boolean),
  };
}

let qemuVersion: string | undefined;
function qemuVersionOrReason(): { version?: string; reason?: string } {
  if (qemuVersion) return { version: qemuVersion };
  try {
    qemuVersion = execFileSync(QEMU, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]!
      .trim();
    return { version: qemuVersion };
  } catch (e) {
    return {
      reason: `${QEMU} cannot run (${(e as Error).message.split('\n')[0]}): apt-get install qemu-system-x86, or run packages/oracle/scripts/prepare.sh`,
    };
  }
}

export interface OracleVmOptions {
  series?: string;
  /** guest memory in MiB (default 256) */
  memoryMb?: number;
  /** ms to wait for the agent after qemu started (default 180 s: TCG on a loaded machine) */
  bootTimeoutMs?: number;
}

export interface ExecResult {
  /** exit status of `/bin/sh -c` (128 + signal when killed) */
  status: number;
  output: string;
}

type Waiter = { resolve(f: Frame): void; reject(e: Error): void };

export class OracleVm {
  /** "nlbridge 1 <uname -r>" as the agent reported it */
  hello = '';
  private sock?: Socket;
  private qmp?: Qmp;
  private readonly decoder = new FrameDecoder();
  private readonly waiters = new Map<number, Waiter[]>();
  private readonly transports = new Map<number, VmKernelTransport>();
  private nextChan = 1;
  private dead?: Error;
  private stderr = '';
  private exited = false;

  private constructor(
    readonly artifacts: OracleArtifacts,
    private readonly proc: ChildProcess,
    private readonly tmp: string,
    readonly memoryMb: number,
  ) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    proc.on('exit', (code, sig) => {
      this.exited = true;
      this.die(
        new Error(
          `qemu exited (${sig ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}${this.consoleTail()}`,
        ),
      );
    });
    const kill = () => {
      if (!this.exited) proc.kill('SIGKILL');
    };
    process.once('exit', kill);
    proc.once('exit', () => process.removeListener('exit', kill));
  }

  /** Why the oracle cannot run on this machine (undefined: it can). */
  static skipReason(series = process.env.XFRMKIT_ORACLE_KERNEL ?? DEFAULT_SERIES): string | undefined {
    const q = qemuVersionOrReason();
    let reason = q.reason;
    if (!reason) {
      const a = findArtifacts(series);
      if (typeof a === 'string') reason = a;
    }
    if (reason && process.env.XFRMKIT_ORACLE === 'require') {
      throw new Error(`XFRMKIT_ORACLE=require, but the kernel oracle cannot run: ${reason}`);
    }
    return reason;
  }

  /** Boots the kernel (TCG: 6–10 s). */
  static async boot(opts: OracleVmOptions = {}): Promise<OracleVm> {
    return OracleVm.start(opts);
  }

  /** Starts qemu from a snapshot written by `saveSnapshot` (≈0.5 s). */
  static async restore(snapshot: string, opts: OracleVmOptions = {}): Promise<OracleVm> {
    return OracleVm.start(opts, snapshot);
  }

  /**
   * A VM restored from this kernel's pristine snapshot (just booted, agent idle, no socket open).
   * The first caller of a run boots and saves it (under a lock shared by all test workers);
   * everyone restores it, so each test file starts from the same clean kernel.
   */
  static async shared(opts: OracleVmOptions = {}): Promise<OracleVm> {
    const file = await OracleVm.pristineSnapshot(opts);
    return OracleVm.restore(file, opts);
  }

  /** Path of the pristine snapshot, booting and saving it first when needed. */
  static async pristineSnapshot(opts: OracleVmOptions = {}): Promise<string> {
    const a = OracleVm.artifactsOrThrow(opts.series);
    const mem = opts.memoryMb ?? 256;
    const key = createHash('sha256')
      .update(`${a.stamp} ${qemuVersionOrReason().version} ${mem} ${statSync(a.initrd).mtimeMs}`)
      .digest('hex')
      .slice(0, 16);
    let dir = a.dir;
    try {
      const probe = join(dir, `.w${process.pid}`);
      mkdirSync(probe);
      rmSync(probe, { recursive: true });
    } catch {
      dir = join(tmpdir(), 'xfrmkit-oracle');
      mkdirSync(dir, { recursive: true });
    }
    const file = join(dir, `snapshot-${key}.bin`);
    const lock = `${file}.lock`;
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (existsSync(file)) return file;
      try {
        mkdirSync(lock);
      } catch {
        // someone else is booting: wait for the file (or a stale lock)
        try {
          if (Date.now() - statSync(lock).mtimeMs > 240_000) rmSync(lock, { recursive: true, force: true });
        } catch {}
        if (Date.now() > deadline) throw new Error(`oracle: timed out waiting for ${file} (lock ${lock})`);
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      try {
        if (existsSync(file)) return file;
        const vm = await OracleVm.boot(opts);
        try {
          await vm.saveSnapshot(file);
        } finally {
          await vm.shutdown();
        }
        pruneSnapshots(dir, file);
        return file;
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
  }

  private static artifactsOrThrow(series?: string): OracleArtifacts {
    const q = qemuVersionOrReason();
    if (q.reason) throw new Error(`oracle: ${q.reason}`);
    const a = findArtifacts(series ?? process.env.XFRMKIT_ORACLE_KERNEL ?? DEFAULT_SERIES);
    if (typeof a === 'string') throw new Error(`oracle: ${a}`);
    return a;
  }

  private static async start(opts: OracleVmOptions, incoming?: string): Promise<OracleVm> {
    const a = OracleVm.artifactsOrThrow(opts.series);
    const mem = opts.memoryMb ?? 256;
    const tmp = mkdtempSync(join(tmpdir(), 'xfrmkit-vm-'));
    const nlb = join(tmp, 'nlb.sock');
    const qmpPath = join(tmp, 'qmp.sock');
    const args = [
      '-accel',
      'tcg',
      '-m',
      `${mem}M`,
      '-nographic',
      '-no-reboot',
      '-nic',
      'none',
      '-kernel',
      a.vmlinuz,
      '-initrd',
      a.initrd,
      '-append',
      'console=ttyS0 quiet panic=-1',
      '-serial',
      `file:${join(tmp, 'console.log')}`,
      '-monitor',
      'none',
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      '-chardev',
      `socket,id=nlb,path=${nlb},server=on,wait=off`,
      '-device',
      'virtio-serial-pci',
      '-device',
      'virtserialport,chardev=nlb,name=nlbridge',
    ];
    if (incoming) {
      if (!existsSync(incoming)) throw new Error(`oracle: snapshot ${incoming} does not exist`);
      args.push('-incoming', `exec:cat '${incoming.replace(/'/g, `'\\''`)}'`);
    }
    const proc = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const vm = new OracleVm(a, proc, tmp, mem);
    const timeout = opts.bootTimeoutMs ?? 180_000;
    try {
      await vm.connect(nlb, qmpPath, timeout);
      if (incoming) await vm.resumeAfterIncoming(timeout);
      vm.hello = new TextDecoder().decode(
        (await vm.control(0, OP.HELLO, helloPayload(), timeout)).payload.subarray(4),
      );
    } catch (e) {
      const err = new Error(
        `oracle: ${incoming ? `restore of ${incoming}` : `boot of ${a.krel}`} failed: ${(e as Error).message}${vm.consoleTail()}`,
      );
      await vm.shutdown().catch(() => {});
      throw err;
    }
    return vm;
  }

  /** The snapshot was saved stopped: wait for the incoming migration to load, then `cont`. */
  private async resumeAfterIncoming(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = (await this.qmp!.execute('query-status')) as { status: string; running: boolean };
      if (s.running) return;
      if (s.status !== 'inmigrate') {
        await this.qmp!.execute('cont');
        return;
      }
      if (Date.now() > deadline) throw new Error('the snapshot did not load');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private consoleTail(): string {
    try {
      const log = readFileSync(join(this.tmp, 'console.log'), 'utf8').split('\n').slice(-15).join('\n');
      return log.trim() ? `\n--- guest console (last lines) ---\n${log}` : '';
    } catch {
      return '';
    }
  }

  private async connect(nlb: string, qmpPath: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + Math.min(timeoutMs, 30_000);
    for (;;) {
      if (this.dead) throw this.dead;
      if (existsSync(nlb) && existsSync(qmpPath)) {
        try {
          this.sock = await new Promise<Socket>((res, rej) => {
            const s = connect(nlb);
            s.once('connect', () => res(s));
            s.once('error', rej);
          });
          break;
        } catch {}
      }
      if (Date.now() > deadline) throw new Error(`qemu did not open ${nlb}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.sock.on('data', (chunk: Buffer) => this.decoder.push(chunk, (f) => this.frame(f)));
    this.sock.on('error', (e) => this.die(new Error(`bridge socket: ${e.message}`)));
    this.sock.on('close', () => this.die(new Error('bridge socket closed')));
    this.qmp = await Qmp.connect(qmpPath);
  }

  private frame(f: Frame): void {
    if (f.op === OP.RESULT) {
      const q = this.waiters.get(f.chan);
      const w = q?.shift();
      if (w) w.resolve(f);
      return;
    }
    const t = this.transports.get(f.chan);
    if (!t) return;
    if (f.op === OP.RECV) t.deliver(f.payload);
    else if (f.op === OP.ERROR)
      t.error(new DataView(f.payload.buffer, f.payload.byteOffset).getInt32(0, true));
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const q of this.waiters.values()) for (const w of q.splice(0)) w.reject(err);
    for (const t of this.transports.values()) t.closedByVm(err);
    this.transports.clear();
  }

  /** @internal sends a frame that expects no answer */
  post(chan: number, op: number, payload?: Uint8Array): void {
    if (this.dead) throw this.dead;
    this.sock!.write(encodeFrame(chan, op, payload));
  }

  /** @internal sends a frame and resolves with its RESULT */
  control(chan: number, op: number, payload?: Uint8Array, timeoutMs = 60_000): Promise<Frame> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.die(
          new Error(`the guest agent did not answer op ${op} on channel ${chan} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      let q = this.waiters.get(chan);
      if (!q) {
        q = [];
        this.waiters.set(chan, q);
      }
      q.push({
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.sock!.write(encodeFrame(chan, op, payload));
    });
  }

  /** Release string of the guest kernel. */
  get kernelRelease(): string {
    return this.hello.split(' ')[2] ?? '';
  }

  /**
   * Opens a netlink socket in the guest (NETLINK_EXT_ACK on unless `extAck: false`), bound to
   * `portid` (0: the kernel picks), joined to `groups`.
   */
  async open(
    protocol: number,
    opts: { groups?: number[]; portid?: number; extAck?: boolean; capAck?: boolean; strict?: boolean } = {},
  ): Promise<VmKernelTransport> {
    let chan = this.nextChan;
    while (this.transports.has(chan)) chan = (chan % 255) + 1;
    this.nextChan = (chan % 255) + 1;
    const flags =
      (opts.extAck === false ? 0 : OPEN_FLAGS.EXT_ACK) |
      (opts.capAck ? OPEN_FLAGS.CAP_ACK : 0) |
      (opts.strict ? OPEN_FLAGS.GET_STRICT_CHK : 0);
    const r = await this.control(chan, OP.OPEN, u32s(protocol, 0, opts.portid ?? 0, flags));
    const dv = new DataView(r.payload.buffer, r.payload.byteOffset);
    const err = dv.getInt32(0, true);
    if (err < 0)
      throw new Error(`oracle: socket(AF_NETLINK, ${protocol}) in the guest failed: errno ${-err}`);
    const t = new VmKernelTransport(this, chan, protocol, dv.getUint32(4, true));
    this.transports.set(chan, t);
    for (const g of opts.groups ?? []) await t.join(g);
    return t;
  }

  /** @internal */
  forget(chan: number): void {
    this.transports.delete(chan);
  }

  /** Runs a shell command in the guest (busybox sh); all datagrams it caused arrive before the result. */
  async exec(cmd: string, timeoutMs = 60_000): Promise<ExecResult> {
    const r = await this.control(0, OP.EXEC, new TextEncoder().encode(cmd), timeoutMs);
    const st = new DataView(r.payload.buffer, r.payload.byteOffset).getInt32(0, true);
    const status = st < 0 ? st : (st & 0x7f) === 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f);
    return { status, output: new TextDecoder().decode(r.payload.subarray(4)) };
  }

  /** Like exec, but throws with the output when the command fails. */
  async sh(cmd: string): Promise<string> {
    const r = await this.exec(cmd);
    if (r.status !== 0) throw new Error(`oracle: \`${cmd}\` exited ${r.status}: ${r.output.trim()}`);
    return r.output;
  }

  /** Saves the whole machine to `file` (QMP stop + migrate), then lets it run on. */
  async saveSnapshot(file: string): Promise<void> {
    if (this.transports.size) throw new Error('oracle: close every socket before saving a snapshot');
    const q = this.qmp!;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await q.execute('stop');
    await q.execute('migrate', { uri: `exec:cat > '${tmp.replace(/'/g, `'\\''`)}'` });
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = (await q.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (s.status === 'completed') break;
      if (s.status === 'failed' || s.status === 'cancelled') {
        try {
          unlinkSync(tmp);
        } catch {}
        throw new Error(`oracle: snapshot failed: ${s['error-desc'] ?? s.status}`);
      }
      if (Date.now() > deadline) throw new Error('oracle: snapshot did not complete within 120 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    renameSync(tmp, file);
    await q.execute('cont');
  }

  /** Stops qemu and removes its sockets and console log. */
  async shutdown(): Promise<void> {
    for (const t of [...this.transports.values()]) t.close();
    if (!this.exited) {
      const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
      try {
        await Promise.race([this.qmp?.execute('quit'), new Promise((r) => setTimeout(r, 2000))]);
      } catch {}
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    this.qmp?.close();
    this.sock?.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Lets the process exit while the VM is idle. */
  unref(): void {
    this.sock?.unref();
    this.qmp?.unref();
    this.proc.unref();
    (this.proc.stderr as Socket | null)?.unref?.();
  }

  ref(): void {
    this.sock?.ref();
    this.proc.ref();
  }
}

/**
 * Removes the snapshots of earlier kernels/agents/qemu versions next to `keep` (about 90 MB each),
 * once they are older than ten minutes (a test run that started with one has restored it by then).
 */
function pruneSnapshots(dir: string, keep: string): void {
  try {
    for (const f of readdirSync(dir)) {
      const path = join(dir, f);
      if (!/^snapshot-[0-9a-f]{16}\.bin$/.test(f) || path === keep) continue;
      if (Date.now() - statSync(path).mtimeMs > 600_000) rmSync(path, { force: true });
    }
  } catch {}
}

function helloPayload(): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(Date.now()), true);
  return b;
}
