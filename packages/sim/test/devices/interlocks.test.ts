/**
 * mlx5 IPsec interlocks (mlx5-ipsec.md §9) and the seed scenario, end to end through the real
 * DevlinkClient and XfrmClient over InProcTransport against createSimMachine('bf3').
 */
import { XFRM_POLICY_DIR } from '@xfrmkit/core';
import { describe, expect, test } from 'vitest';
import { createSimMachine } from '../../src/create.ts';
import {
  clients,
  cryptoState,
  EBUSY,
  EINVAL,
  ENOSPC,
  EOPNOTSUPP,
  PCI0,
  PCI1,
  refusal,
  seedObjects,
} from './support.ts';

const M = 'mlx5_core: ';
const MODE_BLOCKED = `${M}Can't change eswitch mode when IPsec SA and/or policies are configured`;

describe('seed scenario: BlueField-3, switchdev, port function ipsec_packet, packet offload on p0', () => {
  test('objects are refused while a VF has IPsec, accepted after, block mode changes until deleted', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const p0 = sim.ifindex('p0');
    expect((await c.dl.eswitchGet(PCI0)).mode).toBe(1);
    // devlink port function set pci/0000:03:00.0/1 ipsec_packet enable
    await c.dl.portFunctionSet(PCI0, 1, { caps: { ipsecPacket: true } });
    const vf = await c.dl.portGet(PCI0, 1);
    expect(vf.function?.caps).toEqual({ value: 0x9, selector: 0xf });
    const { states, policies } = seedObjects(p0);
    // mlx5: PF IPsec and VF IPsec exclude each other (§9.4) — the PF SA is refused with EBUSY
    expect(await refusal(c.xfrm.addState(states[0]!))).toEqual({
      errno: EBUSY,
      msg: `${M}Device failed to offload this state`,
    });
    expect(await refusal(c.xfrm.addPolicy(policies[0]!))).toEqual({
      errno: EBUSY,
      msg: `${M}Device failed to offload this policy`,
    });
    // the VF on the other PF does not interfere; disabling the VF cap on this PF frees the PF
    await c.dl.portFunctionSet(PCI0, 1, { caps: { ipsecPacket: false } });
    await c.dl.portFunctionSet(PCI1, 65537, { caps: { ipsecPacket: true } });
    for (const s of states) await c.xfrm.addState(s);
    for (const p of policies) await c.xfrm.addPolicy(p);
    const listed = await c.xfrm.listStates();
    expect(listed.map((s) => s.offload).sort((a, b) => a!.flags - b!.flags)).toEqual([
      { ifindex: p0, flags: 4 },
      { ifindex: p0, flags: 6 },
    ]);
    const pols = (await c.xfrm.listPolicies()).filter((p) => p.offload);
    expect(pols.map((p) => [p.info.dir, p.offload])).toEqual(
      expect.arrayContaining([
        [XFRM_POLICY_DIR.OUT, { ifindex: p0, flags: 4 }],
        [XFRM_POLICY_DIR.IN, { ifindex: p0, flags: 6 }],
      ]),
    );
    const dev = sim.devices[0]!;
    expect(dev.ipsec.objects.size).toBe(4);
    expect(dev.ipsec.numBlockMode).toBe(2); // FDB RX and TX table sets
    // now enabling VF IPsec on this PF is refused (EBUSY, no text)
    expect(await refusal(c.dl.portFunctionSet(PCI0, 2, { caps: { ipsecPacket: true } }))).toEqual({
      errno: EBUSY,
    });
    // changing the eswitch mode is refused with the mlx5 message
    expect(await refusal(c.dl.eswitchSet(PCI0, { mode: 0 }))).toEqual({
      errno: EOPNOTSUPP,
      msg: MODE_BLOCKED,
    });
    // delete the four objects: the mode change goes through
    for (const s of states)
      await c.xfrm.deleteState({
        daddr: s.info.id.daddr,
        spi: s.info.id.spi,
        proto: s.info.id.proto,
        family: s.info.family,
      });
    expect(await refusal(c.dl.eswitchSet(PCI0, { mode: 0 }))).toEqual({
      errno: EOPNOTSUPP,
      msg: MODE_BLOCKED,
    });
    for (const p of policies) await c.xfrm.deletePolicy({ sel: p.info.sel, dir: p.info.dir });
    expect(dev.ipsec.objects.size).toBe(0);
    await c.dl.eswitchSet(PCI0, { mode: 0 });
    expect((await c.dl.eswitchGet(PCI0)).mode).toBe(0);
    c.close();
  });
});

describe('interlocks', () => {
  test('TC flower on the uplink blocks IPsec, IPsec blocks TC on the uplink (not on VF reps)', async () => {
    const sim = createSimMachine('bf3', { eswitchMode: 'legacy' });
    const c = await clients(sim);
    const dev = sim.devices[0]!;
    const p0 = sim.ifindex('p0');
    dev.uplink.features['hw-tc-offload'] = true;
    expect(dev.tcFlowAdd(p0)).toBeUndefined();
    expect(await refusal(c.xfrm.addState(seedObjects(p0).states[1]!))).toEqual({
      errno: EBUSY,
      msg: `${M}Device failed to offload this state`,
    });
    expect(dev.tcFlowDel(p0)).toBeUndefined();
    await c.xfrm.addState(seedObjects(p0).states[1]!);
    expect(dev.tcFlowAdd(p0)).toEqual({ errno: EBUSY });
    c.close();
  });

  test('packet tunnel SA in switchdev: refused by encap settings', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const s = seedObjects(sim.ifindex('p0')).states[0]!;
    s.info.mode = 1;
    expect(await refusal(c.xfrm.addState(s))).toEqual({
      errno: EINVAL,
      msg: `${M}Packet offload tunnel mode is disabled due to encap settings`,
    });
    c.close();
  });

  test('smfs steering in switchdev removes packet offload (caps), crypto remains', async () => {
    const sim = createSimMachine('bf3', { eswitchMode: 'legacy' });
    const c = await clients(sim);
    await c.dl.paramSet(PCI0, 'flow_steering_mode', 'smfs', 0);
    await c.dl.eswitchSet(PCI0, { mode: 1 });
    const p0 = sim.ifindex('p0');
    expect(await refusal(c.xfrm.addState(seedObjects(p0).states[0]!))).toEqual({
      errno: EINVAL,
      msg: `${M}Packet offload is not supported`,
    });
    await c.xfrm.addState(cryptoState('out', p0));
    expect((await c.xfrm.listStates())[0]!.offload).toEqual({ ifindex: p0, flags: 0 });
    c.close();
  });

  test('offload to a representor: packet refused (no xfrmdev ops), crypto falls back to software', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const rep = sim.ifindex('pf0vf0');
    expect((await refusal(c.xfrm.addState(seedObjects(rep).states[0]!))).errno).toBe(EINVAL);
    await c.xfrm.addState(cryptoState('out', rep));
    expect((await c.xfrm.listStates())[0]!.offload).toBeUndefined();
    expect(sim.devices[0]!.ipsec.stats.softwareFallback).toBe(1);
    c.close();
  });

  test('BlueField-2 OFED: ipsec_mode full only from legacy; full offload needs it', async () => {
    const sim = createSimMachine('bf2', { eswitchMode: 'legacy' });
    const dev = sim.devices[0]!;
    expect(dev.compatRead('ipsec_mode')).toBe('none\n');
    expect(dev.setIpsecMode('bogus')).toEqual({
      errno: EINVAL,
      msg: "devlink op ipsec_mode doesn't support bogus argument",
    });
    expect(dev.setIpsecMode('full')).toBeUndefined();
    expect(dev.eswitchModeSet(1)).toEqual({});
    expect(dev.setIpsecMode('none')).toEqual({
      errno: EOPNOTSUPP,
      msg: "Can't change IPsec mode while in switchdev mode",
    });
    const boot = createSimMachine('bf2', { ipsecFullOffload: true });
    expect(boot.devices[0]!.compatRead('mode')).toBe('switchdev\n');
    expect(boot.devices[0]!.compatRead('ipsec_mode')).toBe('full\n');
  });
});

describe('fault injection, capacity, counters', () => {
  test('next N offloads fail with a chosen errno, then succeed', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const dev = sim.devices[0]!;
    dev.faults.offload.push({ what: 'state', remaining: 2, errno: ENOSPC });
    const s = seedObjects(sim.ifindex('p0')).states[0]!;
    expect(await refusal(c.xfrm.addState(s))).toEqual({
      errno: ENOSPC,
      msg: `${M}Device failed to offload this state`,
    });
    expect((await refusal(c.xfrm.addState(s))).errno).toBe(ENOSPC);
    await c.xfrm.addState(s);
    expect(dev.ipsec.stats.injectedFailures).toBe(2);
    expect(dev.ipsec.stats.statesAdded).toBe(1);
    c.close();
  });

  test('shrunken table capacity refuses the next SA; freeing an entry admits one', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const dev = sim.devices[0]!;
    dev.faults.limits.saRulesPerTable = 1;
    const [out] = seedObjects(sim.ifindex('p0')).states;
    await c.xfrm.addState(out!);
    const second = structuredClone(out!);
    second.info.id.spi = 0x77;
    second.info.reqid = 0x77;
    expect(await refusal(c.xfrm.addState(second))).toEqual({
      errno: ENOSPC,
      msg: `${M}Device failed to offload this state`,
    });
    await c.xfrm.deleteState({ daddr: out!.info.id.daddr, spi: out!.info.id.spi, proto: 50, family: 2 });
    await c.xfrm.addState(second);
    expect(dev.ipsec.occupancy().txSa).toBe(1);
    c.close();
  });

  test('ethtool IPsec counters: names of mlx5-ipsec.md §8, on the uplink only', () => {
    const sim = createSimMachine('bf3');
    const dev = sim.devices[0]!;
    dev.countIpsec('ipsec_rx_pkts', 3);
    dev.countIpsec('ipsec_rx_bytes', 4500n);
    const st = dev.ethtoolStats();
    expect(Object.keys(st)).toEqual([
      'ipsec_rx_pkts',
      'ipsec_rx_bytes',
      'ipsec_rx_drop_pkts',
      'ipsec_rx_drop_bytes',
      'ipsec_rx_drop_mismatch_sa_sel',
      'ipsec_tx_pkts',
      'ipsec_tx_bytes',
      'ipsec_tx_drop_pkts',
      'ipsec_tx_drop_bytes',
      'ipsec_rx_drop_sp_alloc',
      'ipsec_rx_drop_sadb_miss',
      'ipsec_tx_drop_bundle',
      'ipsec_tx_drop_no_state',
      'ipsec_tx_drop_not_ip',
      'ipsec_tx_drop_trailer',
    ]);
    expect(st.ipsec_rx_pkts).toBe(3n);
    expect(st.ipsec_rx_bytes).toBe(4500n);
    expect(dev.ethtoolStats(sim.ifindex('pf0vf0'))).toEqual({});
  });

  test('dropped and delayed notifications', async () => {
    const sim = createSimMachine('bf3', { eswitchMode: 'legacy', functions: 1 });
    const c = await clients(sim);
    const seen: string[] = [];
    c.dl.subscribe((e) => seen.push(e.kind === 'param' ? `param:${e.param.name}` : e.kind));
    const dev = sim.devices[0]!;
    dev.faults.dropNotifications = 1;
    await c.dl.paramSet(PCI0, 'flow_steering_mode', 'smfs', 0);
    await c.dl.paramSet(PCI0, 'flow_steering_mode', 'dmfs', 0);
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual(['param:flow_steering_mode']);
    dev.faults.notificationDelayMs = 500;
    await c.dl.paramSet(PCI0, 'flow_steering_mode', 'smfs', 0);
    await new Promise((r) => setTimeout(r, 0));
    expect(seen.length).toBe(1);
    sim.machine.clock.advance(500);
    await new Promise((r) => setTimeout(r, 0));
    expect(seen.length).toBe(2);
    c.close();
  });

  test('reload is refused while IPsec tables exist, then re-creates ports with new ifindexes', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const p0 = sim.ifindex('p0');
    const s = seedObjects(p0).states[0]!;
    await c.xfrm.addState(s);
    expect(await refusal(c.dl.reload(PCI0, 1))).toEqual({
      errno: EOPNOTSUPP,
      msg: `${M}reload is unsupported if IPSec rules are configured`,
    });
    await c.xfrm.deleteState({ daddr: s.info.id.daddr, spi: s.info.id.spi, proto: 50, family: 2 });
    const r = await c.dl.reload(PCI0, 1);
    expect(r.actionsPerformed).toEqual({ value: 2, selector: 2 });
    expect(sim.ifindex('p0')).not.toBe(p0);
    const d = await c.dl.devGet(PCI0);
    expect(d.reloadStats?.[0]?.entries[0]?.value).toBe(1);
    c.close();
  });
});
