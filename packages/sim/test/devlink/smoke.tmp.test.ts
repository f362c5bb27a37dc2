import { DevlinkClient } from '@xfrmkit/netlink';
import { expect, test } from 'vitest';
import { createSimMachine, InProcTransport, NETLINK_GENERIC } from '../../src/index.ts';

test('smoke', async () => {
  const sim = createSimMachine('bf3');
  const dl = await DevlinkClient.open(new InProcTransport(sim.machine, NETLINK_GENERIC));
  console.log(dl.family);
  console.log(await dl.devList());
  console.log(await dl.portList());
  console.log(await dl.eswitchGet({ bus: 'pci', dev: '0000:03:00.0' }));
  console.log(await dl.paramList());
  console.log(await dl.info({ bus: 'pci', dev: '0000:03:00.0' }));
  console.log(await dl.portList({ bus: 'pci', dev: '0000:03:00.1' }));
  expect(1).toBe(1);
});
