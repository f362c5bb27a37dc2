/**
 * DevlinkClient against a tiny in-test fake Transport: a scripted "kernel" that answers GETFAMILY
 * with the captured reply bytes and devlink requests with messages built by the domain builders.
 * Checks seq matching (out-of-order answers), dumps over several datagrams, errors with extack,
 * warnings on ACKs, DONE-carried errors, param set logic and notifications.
 */
import { describe, expect, it } from 'vitest';
import { DevlinkClient, type DevlinkEvent } from '../../src/client/devlink.ts';
import type { DatagramInfo, Transport } from '../../src/client/transport.ts';
import { DEVLINK_CMD } from '../../src/devlink/constants.ts';
import { type DevlinkPortInfo, deviceAttrs, paramAttrs, portAttrs } from '../../src/devlink/domain.ts';
import { devlinkRequest } from '../../src/devlink/requests.ts';
import { devlinkFamily } from '../../src/devlink/tables.ts';
import { decodeDatagram, encodeMessage, GenlRegistry, type NetlinkMessage } from '../../src/message.ts';
import type { Attr } from '../../src/schema/attrs.ts';
import { buildError } from '../../src/wire/control.ts';
import { NetlinkDecodeError, NetlinkError } from '../../src/wire/errors.ts';
import { joinMessages, NLM_F, NLMSG, splitDatagram } from '../../src/wire/nlmsg.ts';
import { loadIproute2DevlinkFixtures, loadKernelCaptures } from './helpers.ts';

const FAMILY = 0x16;
const GROUP = 0x0b;
const H = { bus: 'pci', dev: '0000:03:00.0' };
const genl = new GenlRegistry().define(devlinkFamily);
genl.bind(FAMILY, 'devlink');

/** the captured GETFAMILY "devlink" reply of the 6.15 fixtures (id 0x16, group "config" 0x0b) */
const familyReply = (() => {
  const f = loadIproute2DevlinkFixtures().find((x) => x.version === '6.15');
  if (!f) throw new Error('no 6.15 fixture');
  return f.lines.find((l) => l.dir === 'recv')!.bytes;
})();

type Handler = (
  req: NetlinkMessage & { kind: 'genl' },
  raw: { header: NetlinkMessage['header']; payload: Uint8Array },
) => Uint8Array[] | 'hold';

class FakeKernel implements Transport {
  readonly protocol = 16;
  readonly portid = 777;
  readonly requests: Array<NetlinkMessage & { kind: 'genl' }> = [];
  readonly groups = new Set<number>();
  held: Array<() => void> = [];
  private rx?: (d: Uint8Array, info: DatagramInfo) => void;
  constructor(private readonly handler: Handler) {}

  reply(req: NetlinkMessage, cmd: number, attrs: Attr[], flags = 0): Uint8Array {
    const m = devlinkRequest(FAMILY, cmd, flags, attrs);
    m.header.seq = req.header.seq;
    m.header.pid = this.portid;
    return encodeMessage(m, genl);
  }
  ack(raw: { header: NetlinkMessage['header']; payload: Uint8Array }, errno = 0, msg?: string): Uint8Array {
    return buildError(raw, errno, {
      portid: this.portid,
      capAck: true,
      extAck: true,
      extack: msg ? { msg } : {},
    });
  }
  done(req: NetlinkMessage, errno = 0): Uint8Array {
    const b = new Uint8Array(20);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 20, true);
    dv.setUint16(4, NLMSG.DONE, true);
    dv.setUint16(6, NLM_F.MULTI, true);
    dv.setUint32(8, req.header.seq, true);
    dv.setInt32(16, -errno, true);
    return b;
  }

  send(d: Uint8Array): void {
    for (const raw of splitDatagram(d)) {
      const [m] = decodeDatagram(raw.bytes, 'genl', genl);
      if (m?.kind !== 'genl') throw new Error('fake kernel: not a genl request');
      let out: Uint8Array[] | 'hold';
      if (m.header.type === 0x10) {
        const r = familyReply.slice();
        new DataView(r.buffer).setUint32(8, m.header.seq, true);
        out = [r, this.ack(raw)];
      } else {
        this.requests.push(m);
        out = this.handler(m, raw);
      }
      if (out === 'hold') continue;
      const dgrams = out;
      setImmediate(() => {
        for (const x of dgrams) this.rx?.(x, { port: 0, groups: 0 });
      });
    }
  }
  deliver(d: Uint8Array): void {
    this.rx?.(d, { port: 0, groups: 0 });
  }
  multicast(d: Uint8Array): void {
    this.rx?.(d, { port: 0, groups: 1 << (GROUP - 1) });
  }
  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.rx = cb;
  }
  onClose(): void {}
  addMembership(g: number): void {
    this.groups.add(g);
  }
  dropMembership(g: number): void {
    this.groups.delete(g);
  }
  close(): void {}
}

const port = (index: number, netdev: string): DevlinkPortInfo => ({
  handle: H,
  index,
  type: 2,
  netdevIfindex: 10 + index,
  netdevName: netdev,
  splittable: 0,
  flavour: 4,
  controllerNumber: 1,
  pfNumber: 0,
  vfNumber: index - 1,
  external: 1,
  function: { hwAddr: new Uint8Array([0, 1, 2, 3, 4, index]), caps: { value: 8, selector: 15 } },
});

describe('DevlinkClient over a fake transport', () => {
  it('open resolves the family (bytes as iproute2) and learns the config group', async () => {
    const k: FakeKernel = new FakeKernel(() => []);
    const c = await DevlinkClient.open(k);
    expect(c.familyId).toBe(FAMILY);
    expect(c.configGroup).toBe(GROUP);
    expect(c.family.ops.find((o) => o.id === DEVLINK_CMD.ESWITCH_GET)?.flags).toBe(0x0b);
  });

  it('open on a kernel without devlink rejects with NetlinkError ENOENT (real kernel bytes)', async () => {
    const cap = loadKernelCaptures().find((x) => x.file.includes('devlink-enoent'))!;
    const t: Transport = {
      protocol: 16,
      portid: 1,
      send(d) {
        const r = cap.datagrams[0]!.slice();
        const seq = new DataView(d.buffer, d.byteOffset).getUint32(8, true);
        new DataView(r.buffer).setUint32(8, seq, true);
        setImmediate(() => rx?.(r, { port: 0, groups: 0 }));
      },
      onDatagram(cb) {
        rx = cb;
      },
      onClose() {},
      addMembership() {},
      dropMembership() {},
      close() {},
    };
    let rx: ((d: Uint8Array, i: DatagramInfo) => void) | undefined;
    const e = await DevlinkClient.open(t).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as NetlinkError).errnoName).toBe('ENOENT');
  });

  it('matches replies to requests by seq even when answered out of order', async () => {
    const k: FakeKernel = new FakeKernel((req, raw) => {
      const dev = (req.genl.attrs.find((a) => a.name === 'DEV_NAME')?.value as string) ?? '';
      const out = [
        k.reply(
          req,
          DEVLINK_CMD.NEW,
          deviceAttrs({ handle: { bus: 'pci', dev }, nested: [], reloadFailed: false }),
        ),
        k.ack(raw),
      ];
      k.held.push(() => {
        for (const x of out) k.deliver(x);
      });
      return 'hold';
    });
    const c = await DevlinkClient.open(k);
    const a = c.devGet({ bus: 'pci', dev: 'A' });
    const b = c.devGet({ bus: 'pci', dev: 'B' });
    const cc = c.devGet({ bus: 'pci', dev: 'C' });
    await new Promise((r) => setImmediate(r));
    expect(k.held.length).toBe(3);
    // answer C, A, B
    for (const i of [2, 0, 1]) k.held[i]!();
    const [ra, rb, rc] = await Promise.all([a, b, cc]);
    expect([ra.handle.dev, rb.handle.dev, rc.handle.dev]).toEqual(['A', 'B', 'C']);
    const seqs = k.requests.map((r) => r.header.seq);
    expect(new Set(seqs).size).toBe(3);
  });

  it('dumps over several datagrams until DONE; a DONE error rejects the dump', async () => {
    const k: FakeKernel = new FakeKernel((req) => {
      if (req.genl.cmd === DEVLINK_CMD.PORT_GET) {
        const f = NLM_F.MULTI;
        return [
          joinMessages([
            k.reply(req, DEVLINK_CMD.PORT_NEW, portAttrs(port(1, 'pf0vf0')), f),
            k.reply(req, DEVLINK_CMD.PORT_NEW, portAttrs(port(2, 'pf0vf1')), f),
          ]),
          joinMessages([k.reply(req, DEVLINK_CMD.PORT_NEW, portAttrs(port(3, 'pf0vf2')), f), k.done(req)]),
        ];
      }
      return [k.done(req, 19)];
    });
    const c = await DevlinkClient.open(k);
    const ports = await c.portList();
    expect(ports.map((p) => p.netdevName)).toEqual(['pf0vf0', 'pf0vf1', 'pf0vf2']);
    expect(ports[0]).toEqual(port(1, 'pf0vf0'));
    expect(k.requests[0]!.header.flags).toBe(0x305);
    const e = await c.devList().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetlinkError);
    expect((e as NetlinkError).errnoName).toBe('ENODEV');
  });

  it('errors carry errno and extack text; successful ACKs carry warnings', async () => {
    const k: FakeKernel = new FakeKernel((req, raw) => {
      if (req.genl.cmd === DEVLINK_CMD.ESWITCH_SET) {
        return [
          k.ack(raw, 95, "mlx5_core: Can't change eswitch mode when IPsec SA and/or policies are configured"),
        ];
      }
      if (req.genl.cmd === DEVLINK_CMD.RELOAD) {
        return [
          k.reply(req, DEVLINK_CMD.RELOAD, [
            ...deviceAttrs({ handle: H, nested: [] }),
            { type: 154, name: 'RELOAD_ACTIONS_PERFORMED', value: { value: 6, selector: 6 } },
          ]),
          k.ack(raw, 0, 'mlx5_core: reload while VFs are present is unfavorable'),
        ];
      }
      return [k.ack(raw, 22)];
    });
    const c = await DevlinkClient.open(k);
    const e = (await c.eswitchSet(H, { mode: 1 }).catch((x: unknown) => x)) as NetlinkError;
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e.errnoName).toBe('EOPNOTSUPP');
    expect(e.extack.msg).toBe(
      "mlx5_core: Can't change eswitch mode when IPsec SA and/or policies are configured",
    );
    expect(e.message).toContain('DEVLINK_CMD_ESWITCH_SET');
    const r = await c.reload(H, 2);
    expect(r).toEqual({
      actionsPerformed: { value: 6, selector: 6 },
      warning: 'mlx5_core: reload while VFs are present is unfavorable',
    });
    const e2 = await c.eswitchGet(H).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(NetlinkError);
    expect((e2 as NetlinkError).errnoName).toBe('EINVAL');
  });

  it('an ACK without the reply a GET needs is a NetlinkDecodeError', async () => {
    const k: FakeKernel = new FakeKernel((_req, raw) => [k.ack(raw)]);
    const c = await DevlinkClient.open(k);
    await expect(c.info(H)).rejects.toBeInstanceOf(NetlinkDecodeError);
  });

  it('paramSet: learns the type, skips an unchanged value, omits DATA for false, refuses unsupported cmodes', async () => {
    let value = true;
    const k: FakeKernel = new FakeKernel((req, raw) => {
      if (req.genl.cmd === DEVLINK_CMD.PARAM_GET) {
        return [
          k.reply(
            req,
            DEVLINK_CMD.PARAM_GET,
            paramAttrs({
              handle: H,
              name: 'esw_port_metadata',
              generic: false,
              type: 6,
              values: [{ cmode: 0, data: value }],
            }),
          ),
          k.ack(raw),
        ];
      }
      if (req.genl.cmd === DEVLINK_CMD.PARAM_SET) {
        value = req.genl.attrs.some((a) => a.name === 'PARAM_VALUE_DATA');
        return [k.ack(raw)];
      }
      return [k.ack(raw, 95)];
    });
    const c = await DevlinkClient.open(k);
    expect(await c.paramSet(H, 'esw_port_metadata', true, 0)).toEqual({ changed: false });
    expect(k.requests.map((r) => r.genl.cmd)).toEqual([DEVLINK_CMD.PARAM_GET]);
    expect(await c.paramSet(H, 'esw_port_metadata', false, 0)).toEqual({ changed: true });
    const set = k.requests[k.requests.length - 1]!;
    expect(set.genl.attrs.map((a) => a.name)).toEqual([
      'BUS_NAME',
      'DEV_NAME',
      'PARAM_NAME',
      'PARAM_VALUE_CMODE',
      'PARAM_TYPE',
    ]);
    expect(value).toBe(false);
    const n = k.requests.length;
    const e = (await c.paramSet(H, 'esw_port_metadata', true, 1).catch((x: unknown) => x)) as NetlinkError;
    expect(e.errnoName).toBe('EOPNOTSUPP');
    expect(k.requests.length).toBe(n + 1); // only the PARAM_GET
    expect((await c.paramGet(H, 'esw_port_metadata')).values).toEqual([{ cmode: 0, data: false }]);
  });

  it('subscribe joins "config" and decodes NEW/DEL for dev, port, param; other and bad ones do not throw', async () => {
    const k: FakeKernel = new FakeKernel(() => []);
    const c = await DevlinkClient.open(k);
    const events: DevlinkEvent[] = [];
    const off = c.subscribe((e) => events.push(e));
    expect([...k.groups]).toEqual([GROUP]);
    const note = (cmd: number, attrs: Attr[]) => encodeMessage(devlinkRequest(FAMILY, cmd, 0, attrs), genl);
    k.multicast(note(DEVLINK_CMD.PORT_NEW, portAttrs(port(1, 'pf0vf0'))));
    k.multicast(note(DEVLINK_CMD.PORT_DEL, portAttrs(port(1, 'pf0vf0'))));
    k.multicast(
      note(
        DEVLINK_CMD.PARAM_NEW,
        paramAttrs({
          handle: H,
          name: 'io_eq_size',
          generic: true,
          type: 3,
          values: [{ cmode: 1, data: 1024, default: 1024 }],
        }),
      ),
    );
    k.multicast(
      note(
        DEVLINK_CMD.NEW,
        deviceAttrs({ handle: H, nested: [{ bus: 'auxiliary', dev: 'mlx5_core.eth.0' }] }),
      ),
    );
    k.multicast(note(DEVLINK_CMD.DEL, deviceAttrs({ handle: H, nested: [] })));
    k.multicast(
      note(DEVLINK_CMD.TRAP_NEW, [{ type: 130, name: 'TRAP_NAME', value: 'source_mac_is_multicast' }]),
    );
    k.multicast(note(DEVLINK_CMD.PORT_NEW, [{ type: 1, name: 'BUS_NAME', value: 'pci' }])); // no DEV_NAME/PORT_INDEX
    expect(
      events.map((e) =>
        e.kind === 'other' ? `other:${e.cmdName}` : e.kind === 'error' ? 'error' : `${e.kind}:${e.action}`,
      ),
    ).toEqual(['port:new', 'port:del', 'param:new', 'dev:new', 'dev:del', 'other:TRAP_NEW', 'error']);
    expect(events[0]).toEqual({ kind: 'port', action: 'new', port: port(1, 'pf0vf0') });
    expect(events[2]).toMatchObject({
      param: { name: 'io_eq_size', values: [{ cmode: 1, data: 1024, default: 1024 }] },
    });
    expect(events[3]).toMatchObject({ dev: { nested: [{ bus: 'auxiliary', dev: 'mlx5_core.eth.0' }] } });
    off();
    expect(k.groups.size).toBe(0);
    k.multicast(note(DEVLINK_CMD.PORT_DEL, portAttrs(port(1, 'pf0vf0'))));
    expect(events.length).toBe(7);
  });
});
