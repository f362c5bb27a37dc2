/**
 * Test support: clients of a simulated machine (DevlinkClient and XfrmClient over InProcTransport,
 * exactly the clients that talk to a kernel), and the seed's XFRM objects decoded from the real
 * iproute2 6.15 request bytes in packages/netlink/test/fixtures/iproute2-6.15/ip-xfrm.
 */
import { join } from 'node:path';
import { XFRM_OFFLOAD_FLAG, type XfrmPolicy, type XfrmState } from '@xfrmkit/core';
import {
  DevlinkClient,
  decodeDatagram,
  NetlinkError,
  policyFromMessage,
  stateFromMessage,
  XfrmClient,
} from '@xfrmkit/netlink';
import { FIXTURE_ROOT, parseIproute2Fixture } from '../../../netlink/test/devlink/helpers.ts';
import type { SimHost } from '../../src/create.ts';
import { NETLINK_GENERIC, NETLINK_XFRM } from '../../src/machine.ts';
import { InProcTransport } from '../../src/transport/inproc.ts';

export const PCI0 = { bus: 'pci', dev: '0000:03:00.0' };
export const PCI1 = { bus: 'pci', dev: '0000:03:00.1' };

export interface Clients {
  dl: DevlinkClient;
  xfrm: XfrmClient;
  close(): void;
}

export async function clients(sim: SimHost): Promise<Clients> {
  const dl = await DevlinkClient.open(new InProcTransport(sim.machine, NETLINK_GENERIC));
  const xfrm = XfrmClient.over(new InProcTransport(sim.machine, NETLINK_XFRM));
  return {
    dl,
    xfrm,
    close() {
      dl.close();
      xfrm.channel.close();
    },
  };
}

function firstRequest(name: string): Uint8Array {
  const f = parseIproute2Fixture(join(FIXTURE_ROOT, 'iproute2-6.15', 'ip-xfrm', `${name}.txt`), '6.15');
  const l = f.lines.find((x) => x.dir === 'send');
  if (!l) throw new Error(`${name}: no request`);
  return l.bytes;
}

function decodeXfrm(name: string) {
  const [m] = decodeDatagram(firstRequest(name), 'xfrm');
  if (m?.kind !== 'xfrm') throw new Error(`${name}: not an XFRM message`);
  return m.xfrm;
}

/** The seed's objects: `ip xfrm state add … offload packet dev p0 dir out|in` (captured bytes) and
 * the seed policies out/in with `offload packet dev p0` added. */
export function seedObjects(ifindex: number): { states: XfrmState[]; policies: XfrmPolicy[] } {
  const states = ['04-state-add-packet-out', '05-state-add-packet-in'].map((n) => {
    const s = stateFromMessage(decodeXfrm(n));
    s.offload = { ifindex, flags: s.offload!.flags };
    return s;
  });
  const policies = ['01-policy-add-out', '02-policy-add-in'].map((n) => {
    const p = policyFromMessage(decodeXfrm(n));
    p.offload = { ifindex, flags: XFRM_OFFLOAD_FLAG.PACKET };
    return p;
  });
  return { states, policies };
}

/** a crypto-offload variant of a seed state (fixture 06/07 bytes) */
export function cryptoState(dir: 'in' | 'out', ifindex: number): XfrmState {
  const s = stateFromMessage(
    decodeXfrm(dir === 'out' ? '06-state-add-crypto-out' : '07-state-add-crypto-in'),
  );
  s.offload = { ifindex, flags: s.offload!.flags };
  return s;
}

export async function refusal(p: Promise<unknown>): Promise<{ errno: number; msg?: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NetlinkError) {
      const r: { errno: number; msg?: string } = { errno: e.errno };
      if (e.extack.msg !== undefined) r.msg = e.extack.msg;
      return r;
    }
    throw e;
  }
  throw new Error('expected a refusal, the request succeeded');
}

export const EPERM = 1;
export const ENOENT = 2;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const ERANGE = 34;
export const ENOSPC = 28;
export const EOPNOTSUPP = 95;
