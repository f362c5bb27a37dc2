/**
 * The xfrm core's `x->type_offload` check of `xfrm_dev_state_add`, which every offload hook gets
 * (@xfrmkit/core `typeHasOffload`): `ip xfrm state add … proto ah … offload dev p0 dir out` is
 * refused with EINVAL and "Type doesn't support offload" once the device is one with xfrmdev_ops,
 * on the mlx5 model as on netdevsim; nothing is installed, nothing reaches the driver.
 */
import { TYPE_NO_OFFLOAD, type XfrmState } from '@xfrmkit/core';
import { XfrmClient } from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { createNetdevsimMachine, createSimMachine } from '../../src/create.ts';
import { NETLINK_XFRM } from '../../src/machine.ts';
import { InProcTransport } from '../../src/transport/inproc.ts';
import { clients, cryptoState, EINVAL, refusal } from './support.ts';

/** `ip xfrm state add src … dst … proto ah spi … auth-trunc hmac(sha256) … offload dev D dir out` */
function ahOut(ifindex: number): XfrmState {
  const s = cryptoState('out', ifindex);
  s.info.id.proto = 51;
  delete s.aead;
  s.authTrunc = {
    name: 'hmac(sha256)',
    keyLen: 256,
    truncLen: 128,
    key: Uint8Array.from({ length: 32 }, (_, i) => i),
  };
  s.dir = 2;
  s.offload = { ifindex, flags: 0 };
  return s;
}

describe("AH with `offload dev … dir out`: Type doesn't support offload", () => {
  test('bf3 (mlx5 hook): EINVAL + extack, no SA, no IPsec object on the device', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const dev = sim.devices[0]!;
    const r = await refusal(c.xfrm.addState(ahOut(sim.ifindex('p0'))));
    expect(r).toEqual({ errno: EINVAL, msg: TYPE_NO_OFFLOAD });
    expect(r.msg).toBe("Type doesn't support offload");
    expect(await c.xfrm.listStates()).toEqual([]);
    expect(dev.ipsec.counts.ipsecObjects).toBe(0);
    // an ESP SA of the same request is offloaded: the refusal is the type's
    await c.xfrm.addState({ ...cryptoState('out', sim.ifindex('p0')), dir: 2 });
    expect((await c.xfrm.listStates())[0]!.offload?.ifindex).toBe(sim.ifindex('p0'));
    c.close();
  });

  test('netdevsim hook: the same check, the same answer', async () => {
    const host = createNetdevsimMachine();
    const xfrm = XfrmClient.over(new InProcTransport(host.machine, NETLINK_XFRM));
    const eth0 = host.ifindex('eth0');
    expect(await refusal(xfrm.addState(ahOut(eth0)))).toEqual({ errno: EINVAL, msg: TYPE_NO_OFFLOAD });
    expect(await xfrm.listStates()).toEqual([]);
    expect(host.devices[0]!.ipsecTable(eth0)?.filter((e) => e !== undefined)).toEqual([]);
    xfrm.channel.close();
  });
});
