/**
 * mlx5 devlink params (devlink-uapi.md §5.4, §7.4): definitions as data (name, generic, type,
 * supported cmodes, default, validation with errno + extack), and the per-instance values
 * (current per cmode, pending driverinit values applied at reload).
 *
 * Dump order = param id order: generic ids first (enum devlink_param_generic_id), then the driver's
 * `enum mlx5_devlink_param_id` order.
 */
import { DEVLINK_PARAM_CMODE, DEVLINK_PARAM_TYPE } from '@xfrmkit/core';
import type { SimHardware } from './hardware.ts';

export type ParamValue = boolean | number | string;

export interface SimError {
  errno: number;
  msg?: string;
}

export const E = {
  EPERM: 1,
  ENOENT: 2,
  ENODEV: 19,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
} as const;

const MOD = 'mlx5_core: ';

/** What a param validator can look at (`hw`: the driver's hardware description). */
export interface ParamEnv<H = SimHardware> {
  hw: H;
  /** eswitch in switchdev or switchdev_inactive */
  offloadsEnabled: boolean;
  /** the function has SR-IOV VFs of its own (not the host's VFs seen from a BlueField ECPF) */
  sriovEnabled: boolean;
}

export interface ParamDef<H = SimHardware> {
  name: string;
  generic: boolean;
  type: number;
  cmodes: readonly number[];
  /** the value the driver sets at init */
  init(hw: H): ParamValue;
  /** driver `validate` (runs before the cmode is looked at) */
  validate?(v: ParamValue, env: ParamEnv<H>): SimError | undefined;
  /** driver `set` checks beyond validate (runtime params) */
  setCheck?(v: ParamValue, env: ParamEnv<H>): SimError | undefined;
}

const { BOOL, U32, STRING } = DEVLINK_PARAM_TYPE;
const { RUNTIME, DRIVERINIT } = DEVLINK_PARAM_CMODE;

const eqRange = (v: ParamValue): SimError | undefined =>
  typeof v === 'number' && v >= 64 && v <= 4096 ? undefined : { errno: E.EINVAL };

function fsModeValidate(v: ParamValue, env: ParamEnv): SimError | undefined {
  const k = env.hw.kernel;
  const modes = env.hw.kernel.fsModeCheck === 'upstream' ? ['dmfs', 'smfs', 'hmfs'] : ['dmfs', 'smfs'];
  if (k.fsModeCheck === 'upstream' && env.offloadsEnabled)
    return {
      errno: E.EOPNOTSUPP,
      msg: `${MOD}Changing fs mode is not supported when eswitch offloads enabled.`,
    };
  if (v === 'smfs') {
    if (!env.hw.steeringModes.includes('smfs'))
      return {
        errno: E.EOPNOTSUPP,
        msg: `${MOD}Software managed steering is not supported by current device`,
      };
    if (env.offloadsEnabled)
      return {
        errno: E.EOPNOTSUPP,
        msg: `${MOD}Software managed steering is not supported when eswitch offloads enabled.`,
      };
    return undefined;
  }
  if (v === 'hmfs' && modes.includes('hmfs')) {
    if (!env.hw.steeringModes.includes('hmfs'))
      return { errno: E.EOPNOTSUPP, msg: `${MOD}Hardware steering is not supported by current device` };
    return undefined;
  }
  if (v === 'dmfs') return undefined;
  return {
    errno: E.EINVAL,
    msg: `${MOD}Bad parameter: supported values are [${modes.map((m) => `"${m}"`).join(', ')}]`,
  };
}

/** Every param the simulated mlx5 registers, in dump (id) order. */
export const MLX5_PARAMS: readonly ParamDef[] = [
  {
    name: 'enable_roce',
    generic: true,
    type: BOOL,
    cmodes: [DRIVERINIT],
    init: (hw) => hw.profile.hw.roce,
    validate: (v, env) =>
      v === true && !env.hw.profile.hw.roce
        ? { errno: E.EOPNOTSUPP, msg: "Device doesn't support RoCE" }
        : undefined,
  },
  { name: 'enable_remote_dev_reset', generic: true, type: BOOL, cmodes: [RUNTIME], init: () => true },
  { name: 'enable_eth', generic: true, type: BOOL, cmodes: [DRIVERINIT], init: () => true },
  { name: 'enable_rdma', generic: true, type: BOOL, cmodes: [DRIVERINIT], init: () => true },
  { name: 'enable_vnet', generic: true, type: BOOL, cmodes: [DRIVERINIT], init: () => true },
  { name: 'io_eq_size', generic: true, type: U32, cmodes: [DRIVERINIT], init: () => 1024, validate: eqRange },
  {
    name: 'event_eq_size',
    generic: true,
    type: U32,
    cmodes: [DRIVERINIT],
    init: () => 4096,
    validate: eqRange,
  },
  {
    name: 'flow_steering_mode',
    generic: false,
    type: STRING,
    cmodes: [RUNTIME],
    init: () => 'dmfs',
    validate: fsModeValidate,
  },
  {
    name: 'fdb_large_groups',
    generic: false,
    type: U32,
    cmodes: [DRIVERINIT],
    init: () => 15,
    validate: (v) =>
      typeof v === 'number' && v >= 1 && v <= 1024
        ? undefined
        : { errno: E.EOPNOTSUPP, msg: 'Unsupported group number, supported range is 1-1024' },
  },
  {
    name: 'esw_port_metadata',
    generic: false,
    type: BOOL,
    cmodes: [RUNTIME],
    init: () => true,
    validate: (_v, env) =>
      env.offloadsEnabled
        ? { errno: E.EBUSY, msg: 'E-Switch must either disabled or non switchdev mode' }
        : undefined,
    setCheck: (_v, env) => (env.sriovEnabled ? { errno: E.EBUSY } : undefined),
  },
  { name: 'esw_multiport', generic: false, type: BOOL, cmodes: [RUNTIME], init: () => false },
  {
    name: 'hairpin_num_queues',
    generic: false,
    type: U32,
    cmodes: [DRIVERINIT],
    init: (hw) => Math.max(hw.linkSpeedGbps, 50) / 50,
    validate: (v) => (v === 0 ? { errno: E.EINVAL } : undefined),
  },
  {
    name: 'hairpin_queue_size',
    generic: false,
    type: U32,
    cmodes: [DRIVERINIT],
    init: () => 1024,
    validate: (v, env) => {
      const n = v as number;
      if (n === 0 || (n & (n - 1)) !== 0) return { errno: E.EINVAL, msg: 'Value is not power of two' };
      if (n > env.hw.maxHairpinQueueSize)
        return { errno: E.EINVAL, msg: `Maximum hairpin queue size is ${env.hw.maxHairpinQueueSize}` };
      return undefined;
    },
  },
];

/** Values of one instance's params. */
export class ParamStore<H = SimHardware> {
  /** name → cmode → value */
  private readonly values = new Map<string, Map<number, ParamValue>>();
  /** driverinit values set but not yet applied (reload) */
  private readonly pending = new Map<string, ParamValue>();
  /** driverinit values latched at init (PARAM_VALUE_DEFAULT) */
  private readonly defaults = new Map<string, ParamValue>();

  constructor(
    readonly defs: readonly ParamDef<H>[],
    hw: H,
  ) {
    for (const d of defs) {
      const v = d.init(hw);
      const m = new Map<number, ParamValue>();
      for (const c of d.cmodes) m.set(c, v);
      this.values.set(d.name, m);
      if (d.cmodes.includes(DRIVERINIT)) this.defaults.set(d.name, v);
    }
  }

  def(name: string): ParamDef<H> | undefined {
    return this.defs.find((d) => d.name === name);
  }

  /** the value shown for a cmode: the pending driverinit value if one was set */
  shown(name: string, cmode: number): ParamValue | undefined {
    if (cmode === DRIVERINIT && this.pending.has(name)) return this.pending.get(name);
    return this.values.get(name)?.get(cmode);
  }

  /** the value in force (driverinit: the applied one) */
  current(name: string, cmode?: number): ParamValue | undefined {
    const m = this.values.get(name);
    if (!m) return undefined;
    return cmode === undefined ? m.values().next().value : m.get(cmode);
  }

  defaultOf(name: string): ParamValue | undefined {
    return this.defaults.get(name);
  }

  set(name: string, cmode: number, v: ParamValue): void {
    if (cmode === DRIVERINIT) this.pending.set(name, v);
    else this.values.get(name)?.set(cmode, v);
  }

  /** reload: pending driverinit values become current */
  applyPending(): void {
    for (const [n, v] of this.pending) this.values.get(n)?.set(DRIVERINIT, v);
    this.pending.clear();
  }
}
