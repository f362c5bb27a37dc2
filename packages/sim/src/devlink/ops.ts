/**
 * The devlink family's ops and request policies (net/devlink/netlink_gen.c, devlink-uapi.md §2.3,
 * §3.2, §4): every op is a split op with liberal validation; the OPS list nlctrl reports is the
 * fact sheet's 6.16-era list (cmd:flags), and the policies of the commands the simulator answers
 * are modelled one table per split op (distinct objects, as YNL generates them — which is what
 * makes iproute2 ≥ 6.6 accept dump selectors).
 */
import { DEVLINK_ATTR, DEVLINK_PORT_FN_ATTR } from '@xfrmkit/netlink';
import type { SimKernelFeatures } from '../devices/hardware.ts';
import type { GenlOpSpec } from '../genl/controller.ts';
import { type NlaPolicy, type PolicyTable, pol } from '../genl/policy.ts';

const A = DEVLINK_ATTR as Record<string, number>;
export const DL = {
  BUS_NAME: A.BUS_NAME!,
  DEV_NAME: A.DEV_NAME!,
  PORT_INDEX: A.PORT_INDEX!,
  PORT_TYPE: A.PORT_TYPE!,
  ESWITCH_MODE: A.ESWITCH_MODE!,
  ESWITCH_INLINE_MODE: A.ESWITCH_INLINE_MODE!,
  ESWITCH_ENCAP_MODE: A.ESWITCH_ENCAP_MODE!,
  PARAM_NAME: A.PARAM_NAME!,
  PARAM_TYPE: A.PARAM_TYPE!,
  PARAM_VALUE_DATA: A.PARAM_VALUE_DATA!,
  PARAM_VALUE_CMODE: A.PARAM_VALUE_CMODE!,
  PARAM_RESET_DEFAULT: A.PARAM_RESET_DEFAULT!,
  NETNS_FD: A.NETNS_FD!,
  NETNS_PID: A.NETNS_PID!,
  NETNS_ID: A.NETNS_ID!,
  PORT_FUNCTION: A.PORT_FUNCTION!,
  RELOAD_ACTION: A.RELOAD_ACTION!,
  RELOAD_LIMITS: A.RELOAD_LIMITS!,
} as const;

/** `devlink dev` commands the simulator answers. */
export const CMD = {
  GET: 1,
  NEW: 3,
  DEL: 4,
  PORT_GET: 5,
  PORT_SET: 6,
  PORT_NEW: 7,
  PORT_DEL: 8,
  ESWITCH_GET: 29,
  ESWITCH_SET: 30,
  RELOAD: 37,
  PARAM_GET: 38,
  PARAM_SET: 39,
  PARAM_NEW: 40,
  PARAM_DEL: 41,
  INFO_GET: 51,
  RATE_NEW: 76,
  RATE_DEL: 77,
  NOTIFY_FILTER_SET: 84,
} as const;

/** devlink-uapi.md §2.3: the devlink OPS list (cmd:flags) of the 6.16-era netlink_gen.c */
export const DEVLINK_OPS_TABLE =
  '1:0e 5:0e 6:0b 7:0b 8:0b 9:0b 10:0b 11:0e 15:0e 16:0b 19:0e 20:0b 23:0e 24:0b 27:0b 28:0b 29:0b 30:0b 31:0a 32:0a 33:0a 34:0b 35:0b 36:0a 37:0b 38:0e 39:0b 42:0e 44:0b 45:0b 46:0d 47:0e 48:0b 51:0e 52:0e 53:0b 54:0b 55:0b 56:0d 57:0b 58:0b 61:0e 62:0b 65:0e 66:0b 69:0e 70:0b 73:0b 74:0e 75:0b 76:0b 77:0b 78:0e 79:0b 82:0e 83:0b 84:0a'
    .split(' ')
    .map((s) => {
      const [c, f] = s.split(':');
      return [Number(c), Number.parseInt(f!, 16)] as const;
    });

const handleAttrs = (): Record<number, NlaPolicy> => ({
  [DL.BUS_NAME]: pol.nulString(),
  [DL.DEV_NAME]: pol.nulString(),
});
const table = (name: string, maxattr: number, attrs: Record<number, NlaPolicy>): PolicyTable => ({
  name,
  maxattr,
  attrs,
});

/** DEVLINK_VAR_ATTR_TYPE values PARAM_SET accepts (`devlink_attr_param_type_validate`) */
const PARAM_TYPES = new Set([1, 2, 3, 4, 5, 6, 11]);

export function devlinkPolicies(k: SimKernelFeatures) {
  const portFunction = table('devlink_dl_port_function_nl_policy', DEVLINK_PORT_FN_ATTR.MAX_IO_EQS, {
    [DEVLINK_PORT_FN_ATTR.HW_ADDR]: pol.binary(),
    [DEVLINK_PORT_FN_ATTR.STATE]: pol.u8(1),
    [DEVLINK_PORT_FN_ATTR.OPSTATE]: pol.u8(1),
    [DEVLINK_PORT_FN_ATTR.CAPS]: pol.bitfield32(0xf),
    [DEVLINK_PORT_FN_ATTR.MAX_IO_EQS]: pol.u32(),
  });
  const paramSetAttrs: Record<number, NlaPolicy> = {
    ...handleAttrs(),
    [DL.PARAM_NAME]: pol.nulString(),
    [DL.PARAM_TYPE]: {
      type: 'u8',
      validateFn: (p) => (PARAM_TYPES.has(p[0]!) ? undefined : 'invalid enum value'),
    },
    [DL.PARAM_VALUE_CMODE]: pol.u8(2),
  };
  if (k.paramDefaults) paramSetAttrs[DL.PARAM_RESET_DEFAULT] = pol.flag();
  return {
    portFunction,
    get: table('devlink_get_nl_policy', DL.DEV_NAME, handleAttrs()),
    portGetDo: table('devlink_port_get_do_nl_policy', DL.PORT_INDEX, {
      ...handleAttrs(),
      [DL.PORT_INDEX]: pol.u32(),
    }),
    portGetDump: table('devlink_port_get_dump_nl_policy', DL.DEV_NAME, handleAttrs()),
    portSet: table('devlink_port_set_nl_policy', DL.PORT_FUNCTION, {
      ...handleAttrs(),
      [DL.PORT_INDEX]: pol.u32(),
      [DL.PORT_TYPE]: pol.u16(3),
      [DL.PORT_FUNCTION]: pol.nested(portFunction),
    }),
    eswitchGet: table('devlink_eswitch_get_nl_policy', DL.DEV_NAME, handleAttrs()),
    eswitchSet: table('devlink_eswitch_set_nl_policy', DL.ESWITCH_ENCAP_MODE, {
      ...handleAttrs(),
      [DL.ESWITCH_MODE]: pol.u16(k.switchdevInactive ? 2 : 1),
      [DL.ESWITCH_INLINE_MODE]: pol.u8(3),
      [DL.ESWITCH_ENCAP_MODE]: pol.u8(1),
    }),
    reload: table('devlink_reload_nl_policy', DL.RELOAD_LIMITS, {
      ...handleAttrs(),
      [DL.NETNS_FD]: pol.u32(),
      [DL.NETNS_PID]: pol.u32(),
      [DL.NETNS_ID]: pol.s32(),
      [DL.RELOAD_ACTION]: pol.range('u8', 1, 2),
      [DL.RELOAD_LIMITS]: pol.bitfield32(k.reloadLimitsMask),
    }),
    paramGetDo: table('devlink_param_get_do_nl_policy', DL.PARAM_NAME, {
      ...handleAttrs(),
      [DL.PARAM_NAME]: pol.nulString(),
    }),
    paramGetDump: table('devlink_param_get_dump_nl_policy', DL.DEV_NAME, handleAttrs()),
    paramSet: table(
      'devlink_param_set_nl_policy',
      k.paramDefaults ? DL.PARAM_RESET_DEFAULT : DL.PARAM_VALUE_CMODE,
      paramSetAttrs,
    ),
    infoGetDo: table('devlink_info_get_do_nl_policy', DL.DEV_NAME, handleAttrs()),
    infoGetDump: table('devlink_info_get_dump_nl_policy', DL.DEV_NAME, handleAttrs()),
    notifyFilterSet: table('devlink_notify_filter_set_nl_policy', DL.PORT_INDEX, {
      ...handleAttrs(),
      [DL.PORT_INDEX]: pol.u32(),
    }),
  };
}

/** The op list nlctrl reports, with the policies of the modelled commands attached. */
export function devlinkOps(k: SimKernelFeatures): GenlOpSpec[] {
  const p = devlinkPolicies(k);
  const policies: Record<number, { doPolicy?: PolicyTable; dumpPolicy?: PolicyTable }> = {
    [CMD.GET]: { doPolicy: p.get },
    [CMD.PORT_GET]: { doPolicy: p.portGetDo, dumpPolicy: p.portGetDump },
    [CMD.PORT_SET]: { doPolicy: p.portSet },
    [CMD.ESWITCH_GET]: { doPolicy: p.eswitchGet },
    [CMD.ESWITCH_SET]: { doPolicy: p.eswitchSet },
    [CMD.RELOAD]: { doPolicy: p.reload },
    [CMD.PARAM_GET]: { doPolicy: p.paramGetDo, dumpPolicy: p.paramGetDump },
    [CMD.PARAM_SET]: { doPolicy: p.paramSet },
    [CMD.INFO_GET]: { doPolicy: p.infoGetDo, dumpPolicy: p.infoGetDump },
    [CMD.NOTIFY_FILTER_SET]: { doPolicy: p.notifyFilterSet },
  };
  return DEVLINK_OPS_TABLE.filter(([cmd]) => cmd !== CMD.NOTIFY_FILTER_SET || k.notifyFilter).map(
    ([cmd, flags]) => {
      const pp = policies[cmd];
      // the reported flags keep HASPOL from the table (the kernel has policies for every op)
      return pp ? { cmd, flags: flags & ~0x08, ...pp } : { cmd, flags };
    },
  );
}

/** commands with a handler in the simulator */
export const MODELLED = new Set<number>([
  CMD.GET,
  CMD.PORT_GET,
  CMD.PORT_SET,
  CMD.ESWITCH_GET,
  CMD.ESWITCH_SET,
  CMD.RELOAD,
  CMD.PARAM_GET,
  CMD.PARAM_SET,
  CMD.INFO_GET,
  CMD.NOTIFY_FILTER_SET,
]);
