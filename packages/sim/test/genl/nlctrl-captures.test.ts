/**
 * nlctrl replies of the simulator against real kernel bytes (6.18.44, captures/kernel-genl-*.txt):
 * every captured request is sent to the simulator from a socket with the captured portid and
 * socket options; every datagram must be byte-identical after `normaliseGenlIds` (the "netdev"
 * family the capture asked for is registered here with the op list and groups the kernel announced,
 * at whatever id the simulator allocates).
 */
import { readFileSync } from 'node:fs';
import { decodeDatagram, decodeFamilyInfo, GenlRegistry } from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { loadKernelCaptures } from '../../../netlink/test/devlink/helpers.ts';
import { GENL_OP, GenlController, type GenlFamilyDef } from '../../src/genl/controller.ts';
import { NETLINK_GENERIC, SimMachine } from '../../src/machine.ts';
import { hex, normaliseGenlIds, rawGenlSocket } from './support.ts';

const captures = loadKernelCaptures();

/** the "netdev" family as the kernel announced it in kernel-genl-getfamily-netdev.txt */
function netdevDef(): { def: GenlFamilyDef; kernelId: number; kernelGroups: number[] } {
  const cap = captures.find((c) => c.file.endsWith('getfamily-netdev.txt'))!;
  const [m] = decodeDatagram(cap.datagrams[0]!, 'genl', new GenlRegistry());
  if (m?.kind !== 'genl') throw new Error('no NEWFAMILY in the netdev capture');
  const info = decodeFamilyInfo(m.genl.attrs);
  return {
    kernelId: info.id,
    kernelGroups: info.mcastGroups.map((g) => g.id),
    def: {
      name: info.name,
      version: info.version,
      hdrsize: info.hdrsize,
      maxattr: info.maxattr,
      netnsok: true,
      mcastGroups: info.mcastGroups.map((g) => g.name),
      ops: info.ops.map((o) => ({ cmd: o.id, flags: o.flags })),
      handle: () => ({ kind: 'error', errno: 95 }),
    },
  };
}

/** the captured kernel: generic netlink without a devlink family */
function kernelWithoutDevlink(): { machine: SimMachine; genl: GenlController } {
  const machine = new SimMachine();
  const genl = new GenlController();
  machine.setHandler(NETLINK_GENERIC, genl);
  return { machine, genl };
}

describe('nlctrl vs kernel captures', () => {
  test('all nine captures are present', () => {
    expect(captures.length).toBe(9);
  });

  for (const cap of captures) {
    test(cap.file.split('/').pop()!, () => {
      const sim = kernelWithoutDevlink();
      const nd = netdevDef();
      const fam = sim.genl.register(nd.def);
      const text = readFileSync(cap.file, 'utf8');
      const opts = /NETLINK_CAP_ACK=(\d) NETLINK_EXT_ACK=(\d)/.exec(text)!;
      const portid = new DataView(cap.datagrams[0]!.buffer).getUint32(12, true);
      const s = rawGenlSocket(sim.machine, {
        port: portid,
        capAck: opts[1] === '1',
        extAck: opts[2] === '1',
      });
      const got = s.send(cap.request);
      const ids = {
        family: new Map([[fam.id, nd.kernelId]]),
        group: new Map(fam.groups.map((g, i) => [g.id, nd.kernelGroups[i]!])),
      };
      expect(got.map((d) => hex(normaliseGenlIds(d, ids)))).toEqual(cap.datagrams.map(hex));
    });
  }

  test('normaliseGenlIds only rewrites ids (a different id would not compare equal)', () => {
    const sim = kernelWithoutDevlink();
    const nd = netdevDef();
    sim.genl.register(nd.def);
    const cap = captures.find((c) => c.file.endsWith('getfamily-netdev.txt'))!;
    const s = rawGenlSocket(sim.machine, { port: 0x15cb });
    const got = s.send(cap.request);
    expect(hex(got[0]!)).not.toBe(hex(cap.datagrams[0]!));
    expect(nd.def.ops.some((o) => o.flags & GENL_OP.CMD_CAP_HASPOL)).toBe(true);
  });
});
