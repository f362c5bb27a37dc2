/**
 * Offloaded objects give their hardware entries back however they go: flush (state and policy) and
 * hard expiry, not only DELSA/DELPOLICY — otherwise the eswitch would stay locked after a flush.
 */
import { describe, expect, test } from 'vitest';
import { createSimMachine } from '../../src/create.ts';
import { clients, EOPNOTSUPP, PCI0, refusal, seedObjects } from './support.ts';

describe('offload release', () => {
  test('ip xfrm state flush + policy flush free the device tables and unlock the eswitch', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const { states, policies } = seedObjects(sim.ifindex('p0'));
    for (const s of states) await c.xfrm.addState(s);
    for (const p of policies) await c.xfrm.addPolicy(p);
    const dev = sim.devices[0]!;
    expect(dev.ipsec.objects.size).toBe(4);
    expect((await refusal(c.dl.eswitchSet(PCI0, { mode: 0 }))).errno).toBe(EOPNOTSUPP);
    await c.xfrm.flushStates(0);
    expect(dev.ipsec.objects.size).toBe(2);
    await c.xfrm.flushPolicies();
    expect(dev.ipsec.objects.size).toBe(0);
    await c.dl.eswitchSet(PCI0, { mode: 0 });
    expect((await c.dl.eswitchGet(PCI0)).mode).toBe(0);
    c.close();
  });

  test('a user-forced hard EXPIRE deletes the SA and frees its entry', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const { states } = seedObjects(sim.ifindex('p0'));
    await c.xfrm.addState(states[0]!);
    const dev = sim.devices[0]!;
    expect(dev.ipsec.objects.size).toBe(1);
    await c.xfrm.expireState(states[0]!, true);
    expect(await c.xfrm.listStates()).toEqual([]);
    expect(dev.ipsec.objects.size).toBe(0);
    c.close();
  });
});
