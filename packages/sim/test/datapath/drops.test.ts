/**
 * Every drop path of the simulated mlx5 packet path produces its drop and the counter the device
 * (or the kernel path behind it) keeps: unknown SPI, ICV failure, replay, bad trailer, SA-selector
 * mismatch, policy block (TX and RX), MTU (TX and RX), cleartext for a protected flow.
 */
import { XFRM_POLICY_DIR } from '@xfrmkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ethFrame,
  hostFrame,
  ipv4Packet,
  parseFrame,
  seedPolicy,
  TopologyError,
  TwoDpuTopology,
  udpDatagram,
  vxlanPayload,
  vxlanSourcePort,
} from '../../src/index.ts';
import { type Built, espSeal, seeded } from '../topology/support.ts';

let built: Built | undefined;
afterEach(() => {
  built?.topo.dispose();
  built = undefined;
});

const eth = (b: Built, side: 'left' | 'right') =>
  (side === 'left' ? b.topo.bfl : b.topo.bfr).datapath.ethtool();
const mib = (b: Built, side: 'left' | 'right', n: string) =>
  ((side === 'left' ? b.topo.bfl : b.topo.bfr).datapath.mib as Map<string, number>).get(n) ?? 0;

/** The SAD entry of BFR's inbound SA (the one BFL→BFR traffic uses). */
function bfrInSa(b: Built) {
  return b.topo.bfr.sim.xfrm.netns('default').sad.lookup(b.cfg.right.ip, b.cfg.lr.spi, 50, 2)!;
}

function vxlanIpHeader(b: Built): Uint8Array {
  return ipv4Packet({ src: b.cfg.left.ip, dst: b.cfg.right.ip, proto: 17 }, new Uint8Array(0));
}

describe('drop paths', () => {
  it('delivers seed traffic and counts it on both sides', async () => {
    built = await seeded();
    const b = built;
    const f = hostFrame(b.topo.hostL, b.topo.hostR, 600, 7);
    const d = b.topo.send('left', f);
    expect(d.drop).toBeUndefined();
    expect(Buffer.from(d.delivered!)).toEqual(Buffer.from(f));
    expect(parseFrame(d.wire[0]!)!.proto).toBe(50);
    expect(eth(b, 'left').ipsec_tx_pkts).toBe(1n);
    expect(eth(b, 'right').ipsec_rx_pkts).toBe(1n);
    expect(bfrInSa(b).state.info.curlft.packets).toBe(1n);
  });

  it('unknown SPI: software path finds no state → XfrmInNoStates', async () => {
    built = await seeded();
    const b = built;
    const ip = espSeal({
      keyMat: b.cfg.lr.keyMat,
      spi: (b.cfg.lr.spi ^ 0x5a5a) >>> 0,
      seq: 1,
      ipHeader: vxlanIpHeader(b),
      payload: new Uint8Array(64),
      nextHeader: 17,
    });
    const d = b.topo.inject('left', [ethFrame(b.topo.bfr.p0.mac, b.topo.bfl.p0.mac, 0x0800, ip)]);
    expect(d.delivered).toBeUndefined();
    expect(d.drop).toMatchObject({ reason: 'no-state', counter: 'XfrmInNoStates' });
    expect(mib(b, 'right', 'XfrmInNoStates')).toBe(1);
    expect(d.rx![0]!.trace.find((s) => s.stage === 'rx.sa')!.hit).toBe(false);
  });

  it('ICV failure: status-table auth drop, integrity_failed on the SA, XfrmInStateProtoError', async () => {
    built = await seeded();
    const b = built;
    b.topo.wire.impair = (f) => {
      const c = f.slice();
      c[c.length - 20]! ^= 0x01;
      return [c];
    };
    const d = b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 200, 1));
    expect(d.drop).toMatchObject({ reason: 'icv', counter: 'XfrmInStateProtoError' });
    expect(mib(b, 'right', 'XfrmInStateProtoError')).toBe(1);
    expect(bfrInSa(b).state.info.stats.integrityFailed).toBe(1);
    expect(b.topo.bfr.datapath.saCounters().find((s) => s.dir === 'in')!.counters.auth).toBe(1);
    expect(eth(b, 'right').ipsec_rx_pkts).toBe(0n);
  });

  it('replay (ESN SA, HW window): duplicate dropped, replay on the SA, XfrmInStateSeqError', async () => {
    built = await seeded({ esn: true, replayWindow: 128 });
    const b = built;
    b.topo.wire.impair = (f) => [f, f.slice()];
    const d = b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 300, 1));
    expect(d.rx).toHaveLength(2);
    expect(d.rx![0]!.verdict).toBe('stack');
    expect(d.rx![1]!.drop).toEqual({ reason: 'replay', counter: 'XfrmInStateSeqError' });
    expect(mib(b, 'right', 'XfrmInStateSeqError')).toBe(1);
    expect(bfrInSa(b).state.info.stats.replay).toBe(1);
  });

  it('non-ESN packet-offload RX SA has no HW replay check (mlx5-ipsec.md §6.3): duplicate passes', async () => {
    built = await seeded();
    const b = built;
    b.topo.wire.impair = (f) => [f, f.slice()];
    const d = b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 300, 1));
    expect(d.rx!.map((r) => r.verdict)).toEqual(['stack', 'stack']);
    expect(mib(b, 'right', 'XfrmInStateSeqError')).toBe(0);
  });

  it('bad trailer (valid ICV, wrong padding): syndrome 2 drop, XfrmInHdrError', async () => {
    built = await seeded();
    const b = built;
    const inner = hostFrame(b.topo.hostL, b.topo.hostR, 100, 3);
    const udp = udpDatagram(vxlanSourcePort(inner), 4789, vxlanPayload(100, inner));
    const ip = espSeal({
      keyMat: b.cfg.lr.keyMat,
      spi: b.cfg.lr.spi,
      seq: 1,
      ipHeader: vxlanIpHeader(b),
      payload: udp,
      nextHeader: 17,
      padding: Uint8Array.from([9, 9, 9]),
    });
    const d = b.topo.inject('left', [ethFrame(b.topo.bfr.p0.mac, b.topo.bfl.p0.mac, 0x0800, ip)]);
    expect(d.drop).toMatchObject({ reason: 'trailer', counter: 'XfrmInHdrError' });
    expect(mib(b, 'right', 'XfrmInHdrError')).toBe(1);
    expect(b.topo.bfr.datapath.saCounters().find((s) => s.dir === 'in')!.counters.trailer).toBe(1);
  });

  it('the same crafted packet with a correct trailer is delivered (the craft is valid ESP)', async () => {
    built = await seeded();
    const b = built;
    const inner = hostFrame(b.topo.hostL, b.topo.hostR, 100, 3);
    const udp = udpDatagram(vxlanSourcePort(inner), 4789, vxlanPayload(100, inner));
    const ip = espSeal({
      keyMat: b.cfg.lr.keyMat,
      spi: b.cfg.lr.spi,
      seq: 1,
      ipHeader: vxlanIpHeader(b),
      payload: udp,
      nextHeader: 17,
    });
    const d = b.topo.inject('left', [ethFrame(b.topo.bfr.p0.mac, b.topo.bfl.p0.mac, 0x0800, ip)]);
    expect(d.drop).toBeUndefined();
    expect(Buffer.from(d.delivered!)).toEqual(Buffer.from(inner));
  });

  it('SA selector mismatch: decrypted UDP/5000 under the VXLAN SA → ipsec_rx_drop_mismatch_sa_sel', async () => {
    built = await seeded();
    const b = built;
    const ip = espSeal({
      keyMat: b.cfg.lr.keyMat,
      spi: b.cfg.lr.spi,
      seq: 1,
      ipHeader: vxlanIpHeader(b),
      payload: udpDatagram(1234, 5000, new Uint8Array(40)),
      nextHeader: 17,
    });
    const d = b.topo.inject('left', [ethFrame(b.topo.bfr.p0.mac, b.topo.bfl.p0.mac, 0x0800, ip)]);
    expect(d.drop).toMatchObject({ reason: 'sa-selector', counter: 'ipsec_rx_drop_mismatch_sa_sel' });
    expect(eth(b, 'right').ipsec_rx_drop_mismatch_sa_sel).toBe(1n);
  });

  it('policy block: offloaded block policies drop on TX (ipsec_tx_drop_pkts) and RX (ipsec_rx_drop_pkts)', async () => {
    built = await seeded(
      {},
      {},
      {
        policy: (p) => {
          p.info.priority = 100;
        },
      },
    );
    const b = built;
    const inner = hostFrame(b.topo.hostL, b.topo.hostR, 128, 11);
    const sport = vxlanSourcePort(inner);
    // RX block on BFR for exactly this VXLAN flow, higher precedence than the allow policy
    const rxBlock = seedPolicy(b.cfg, 'right', 'in', b.topo.bfr.sim.ifindex('p0'));
    Object.assign(rxBlock.info, { priority: 10, action: 1 });
    Object.assign(rxBlock.info.sel, { sport, sportMask: 0xffff });
    rxBlock.tmpls = [];
    await b.clients.right.addPolicy(rxBlock);
    let d = b.topo.send('left', inner);
    expect(d.drop).toMatchObject({ reason: 'policy-block', counter: 'ipsec_rx_drop_pkts' });
    expect(eth(b, 'right').ipsec_rx_drop_pkts).toBe(1n);
    expect(eth(b, 'right').ipsec_rx_pkts).toBe(1n); // the status table counted it before the policy table
    // TX block on BFL
    const txBlock = seedPolicy(b.cfg, 'left', 'out', b.topo.bfl.sim.ifindex('p0'));
    Object.assign(txBlock.info, { priority: 10, action: 1, dir: XFRM_POLICY_DIR.OUT });
    Object.assign(txBlock.info.sel, { sport, sportMask: 0xffff });
    txBlock.tmpls = [];
    await b.clients.left.addPolicy(txBlock);
    d = b.topo.send('left', inner);
    expect(d.drop).toMatchObject({ reason: 'policy-block', counter: 'ipsec_tx_drop_pkts' });
    expect(eth(b, 'left').ipsec_tx_drop_pkts).toBe(1n);
    expect(d.wire).toHaveLength(0);
    // another flow still passes
    const other = hostFrame(b.topo.hostL, b.topo.hostR, 128, 12);
    expect(vxlanSourcePort(other)).not.toBe(sport);
    expect(b.topo.send('left', other).delivered).toBeDefined();
  });

  it('PF MTU < VXLAN MTU + 50: warned, over-MTU packets dropped before the SA (XfrmOutError)', async () => {
    built = await seeded({ p0Mtu: 1500, vxlanMtu: 1500 });
    const b = built;
    expect(b.topo.warnings.join('\n')).toMatch(/PF MTU 1500 < VXLAN representor MTU 1500 \+ 50/);
    const d = b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 1514, 1));
    expect(d.drop).toMatchObject({ reason: 'mtu', counter: 'XfrmOutError' });
    expect(mib(b, 'left', 'XfrmOutError')).toBe(1);
    expect(eth(b, 'left').ipsec_tx_pkts).toBe(0n);
    expect(b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 200, 2)).delivered).toBeDefined();
  });

  it('receiver MTU smaller than the frame: rx_oversize_pkts_phy', async () => {
    built = await seeded();
    const b = built;
    b.topo.bfr.p0.mtu = 1400;
    const d = b.topo.send('left', hostFrame(b.topo.hostL, b.topo.hostR, 1514, 1));
    expect(d.drop).toMatchObject({ reason: 'oversize', counter: 'rx_oversize_pkts_phy' });
    expect(eth(b, 'right').rx_oversize_pkts_phy).toBe(1n);
  });

  it('cleartext VXLAN for a flow the in-policy protects: XfrmInTmplMismatch', async () => {
    built = await seeded();
    const b = built;
    const inner = hostFrame(b.topo.hostL, b.topo.hostR, 100, 3);
    const ip = ipv4Packet(
      { src: b.cfg.left.ip, dst: b.cfg.right.ip, proto: 17 },
      udpDatagram(vxlanSourcePort(inner), 4789, vxlanPayload(100, inner)),
    );
    const d = b.topo.inject('left', [ethFrame(b.topo.bfr.p0.mac, b.topo.bfl.p0.mac, 0x0800, ip)]);
    expect(d.drop).toMatchObject({ counter: 'XfrmInTmplMismatch' });
    expect(mib(b, 'right', 'XfrmInTmplMismatch')).toBe(1);
    expect(d.delivered).toBeUndefined();
  });

  it('only VXLAN is offloaded: other underlay traffic leaves in clear and is accepted in clear', async () => {
    built = await seeded();
    const b = built;
    const r = b.topo.bfl.sendUnderlay(5000, new Uint8Array(32));
    expect(r.verdict).toBe('wire');
    expect(r.ipsec).toBe(false);
    expect(parseFrame(r.frames[0]!)!.proto).toBe(17);
    expect(r.trace.find((s) => s.stage === 'tx.policy')!.hit).toBe(false);
    expect(eth(b, 'left').ipsec_tx_pkts).toBe(0n);
    const rx = b.topo.bfr.fromWire(r.frames[0]!);
    expect(rx.drop).toBeUndefined();
    expect(rx.rx.ipsec).toBe(false);
  });

  it('OVS hardware offload with IPv6 IPsec is refused', () => {
    const build = () =>
      new TwoDpuTopology({
        profile: 'bf3',
        vni: 1,
        left: { ip: 'fd00::1', hostIp: '10.0.0.1' },
        right: { ip: 'fd00::2', hostIp: '10.0.0.2' },
        p0Mtu: 1600,
        vxlanMtu: 1500,
        family: 'ipv6',
      });
    expect(build).toThrow(TopologyError);
    expect(build).toThrow(/OVS hardware offload with IPv6 IPsec is not supported/);
  });
});
