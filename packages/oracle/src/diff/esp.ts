/**
 * The XFRM/ESP comparison: a NETLINK_XFRM socket in the oracle VM (groups 1..8) against the
 * simulator's XFRM handler with ESP built (`esp: true`) and the guest's crypto API contents.
 */
import { DiffNames, NETLINK_XFRM_PROTO, SimXfrmEndpoint, TransportEndpoint, XFRM_GROUPS } from '@xfrmkit/sim';
import type { OracleVm } from '../vm.ts';
import { isOracleKernel, type OracleKernel, oracleCrypto } from './allowed.ts';
import { DiffRunner, type DiffSide, type SimDiffSide } from './runner.ts';

/** ms the harness waits for a kernel answer (TCG on a machine busy with other work is slow) */
export const KERNEL_TIMEOUT_MS = 60_000;

/** The series (6.12, 6.1) of the kernel a VM runs. */
export function kernelSeriesOf(vm: OracleVm): OracleKernel {
  const s = vm.kernelRelease.split('.').slice(0, 2).join('.');
  if (!isOracleKernel(s)) throw new Error(`oracle: no differential profile for kernel ${vm.kernelRelease}`);
  return s;
}

export async function openEspRunner(vm: OracleVm): Promise<DiffRunner> {
  const kt = new TransportEndpoint(
    await vm.open(NETLINK_XFRM_PROTO, { groups: XFRM_GROUPS }),
    KERNEL_TIMEOUT_MS,
  );
  const kernel: DiffSide = {
    label: 'kernel',
    endpoints: new Map([[NETLINK_XFRM_PROTO, kt]]),
    names: new DiffNames(),
    close: () => kt.close(),
  };
  const se = new SimXfrmEndpoint({ esp: true, cryptoAvailable: oracleCrypto, netns: 'oracle' });
  const sim: SimDiffSide = {
    label: 'simulator',
    endpoints: new Map([[NETLINK_XFRM_PROTO, se]]),
    names: new DiffNames(),
    xfrm: se.handler,
    close: () => se.close(),
  };
  return new DiffRunner(kernel, sim, kernelSeriesOf(vm));
}
