/**
 * Request builders against the byte layouts of devlink-uapi.md §6.2 and iproute2's dl_opts_put
 * (cases the captured fixtures do not cover: reload limits, netns, param reset/typed data, caps
 * switches), the command table pitfalls, and typed refusals of bad input.
 */
import { describe, expect, it } from 'vitest';
import { DEVLINK_CMD, devlinkCmdName } from '../../src/devlink/constants.ts';
import {
  buildEswitchSet,
  buildParamSet,
  buildPortFunctionSet,
  buildPortGet,
  buildReload,
  capsBitfield,
  maskRequestPadding,
} from '../../src/devlink/requests.ts';
import { devlinkFamily } from '../../src/devlink/tables.ts';
import { encodeMessage, GenlRegistry } from '../../src/message.ts';
import { NetlinkEncodeError } from '../../src/wire/errors.ts';
import { fromHex, toHex } from './helpers.ts';

const genl = new GenlRegistry().define(devlinkFamily);
genl.bind(0x16, 'devlink');
const H = { bus: 'pci', dev: '0000:03:00.0' };
const HANDLE = '080001007063690011000200303030303a30333a30302e3000000000';
const hex = (m: Parameters<typeof encodeMessage>[0]) => toHex(encodeMessage(m, genl));

describe('devlink request builders', () => {
  it('command numbers: ESWITCH_GET/SET are 29/30 (the #define aliases are not enum entries)', () => {
    expect(DEVLINK_CMD.SB_OCC_MAX_CLEAR).toBe(28);
    expect(DEVLINK_CMD.ESWITCH_GET).toBe(29);
    expect(DEVLINK_CMD.ESWITCH_SET).toBe(30);
    expect(DEVLINK_CMD.RELOAD).toBe(37);
    expect(DEVLINK_CMD.NOTIFY_FILTER_SET).toBe(84);
    expect(devlinkCmdName(40)).toBe('PARAM_NEW');
    expect(devlinkCmdName(85)).toBe('CMD_85');
  });

  it('eswitch set mode switchdev: the 56 bytes of devlink-uapi.md §6.2', () => {
    expect(hex(buildEswitchSet(0x16, H, { mode: 1 }))).toBe(
      `380000001600050000000000000000001e010000${HANDLE}0600190001000000`,
    );
    // order of dl_opts_put: MODE u16, INLINE_MODE u8, ENCAP_MODE u8 whatever the order given
    expect(hex(buildEswitchSet(0x16, H, { encapMode: 1, mode: 0, inlineMode: 0 }))).toBe(
      `48000000160005000000000000000000` +
        `1e010000${HANDLE}` +
        '0600190000000000' +
        '05001a0000000000' +
        '05003e0001000000',
    );
    expect(() => buildEswitchSet(0x16, H, {})).toThrow(NetlinkEncodeError);
  });

  it('port function set ipsec_packet enable: 72 bytes, PORT_FUNCTION with NLA_F_NESTED, CAPS {8, 8}', () => {
    expect(hex(buildPortFunctionSet(0x16, H, 1, { caps: { ipsecPacket: true } }))).toBe(
      `48000000160005000000000000000000` +
        `06010000${HANDLE}0800030001000000` +
        '100091800c0004000800000008000000',
    );
    // hw_addr, state, caps, max_io_eqs in dl_function_attr_put order
    const all = buildPortFunctionSet(0x16, H, 2, {
      maxIoEqs: 32,
      caps: { roce: false, ipsecCrypto: true },
      state: 1,
      hwAddr: fromHex('001122334455'),
    });
    expect(hex(all)).toBe(
      `64000000160005000000000000000000` +
        `06010000${HANDLE}0800030002000000` +
        '2c009180' +
        '0a0001000011223344550000' +
        '0500020001000000' +
        '0c0004000400000005000000' +
        '0800060020000000',
    );
    expect(capsBitfield({ roce: false, migratable: true })).toEqual({ value: 2, selector: 3 });
    expect(() => buildPortFunctionSet(0x16, H, 1, {})).toThrow(NetlinkEncodeError);
  });

  it('reload: NETNS, ACTION u8, LIMITS bitfield {BIT(limit), valid mask 3} in dl_opts_put order', () => {
    expect(hex(buildReload(0x16, H))).toBe(`3000000016000500000000000000000025010000${HANDLE}`);
    expect(hex(buildReload(0x16, H, { action: 2, limit: 1, netns: { pid: 1 } }))).toBe(
      `4c000000160005000000000000000000` +
        `25010000${HANDLE}` +
        '08008b0001000000' +
        '0500990002000000' +
        '0c009b000200000003000000',
    );
    expect(() => buildReload(0x16, H, { limit: 40 })).toThrow(NetlinkEncodeError);
  });

  it('param set: typed DATA by PARAM_TYPE, reset-default form, bad values refused typed', () => {
    const name = '0c005100666f6f2e62617200'; // "foo.bar\0"
    const after = 40 + HANDLE.length + name.length;
    expect(hex(buildParamSet(0x16, H, 'foo.bar', 3, 1024, 1)).slice(40)).toBe(
      `${HANDLE}${name}050057000100000005005300030000000800560000040000`,
    );
    expect(hex(buildParamSet(0x16, H, 'foo.bar', 4, 5, 0)).slice(after + 32)).toBe(
      '0c0056000500000000000000',
    );
    expect(hex(buildParamSet(0x16, H, 'foo.bar', 6, { resetDefault: true }, 1)).slice(after)).toBe(
      '0500570001000000' + '0400b700' + '0500530006000000',
    );
    expect(() => buildParamSet(0x16, H, 'x', 6, 1, 0)).toThrow(NetlinkEncodeError);
    expect(() => encodeMessage(buildParamSet(0x16, H, 'x', 1, 300, 0), genl)).toThrow(NetlinkEncodeError);
  });

  it('port get: do needs a handle; dumps are 0x305', () => {
    expect(() => buildPortGet(0x16, undefined, 3)).toThrow(NetlinkEncodeError);
    expect(buildPortGet(0x16).header.flags).toBe(0x305);
    expect(buildPortGet(0x16, H, 3).header.flags).toBe(0x005);
  });

  it('maskRequestPadding zeroes seq and attribute padding (also inside nests), nothing else', () => {
    const stale = fromHex(
      '2800000016000500aabbccdd00000000270100000500570000535400' + '0c0091800500020001aaaa00',
    );
    const clean = fromHex(
      '28000000160005000000000000000000270100000500570000000000' + '0c0091800500020001000000',
    );
    expect(toHex(maskRequestPadding(stale))).toBe(toHex(clean));
    const other = stale.slice();
    other[24] = 0x58; // a payload byte is not padding
    expect(toHex(maskRequestPadding(other))).not.toBe(toHex(clean));
  });
});
