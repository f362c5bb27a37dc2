/**
 * `struct xfrm_usersa_info` as `ip xfrm state add` fills it when the command names no selector and
 * no limits: selector of family 0 with zero addresses, infinite byte/packet limits, no time limits,
 * zero counters. The request builders of the tests, probes and oracle suites start from it.
 */
import { AF_INET, AF_INET6, type XfrmSelector, type XfrmUsersaInfo } from '@xfrmkit/core';
import { DEFAULT_LFT, ZERO_CUR, ZERO_SELECTOR } from '@xfrmkit/netlink';

/** A selector that matches everything: family 0, zero addresses (`::` text when `v6`). */
export function unspecSelector(v6 = false): XfrmSelector {
  return { ...ZERO_SELECTOR(v6 ? AF_INET6 : AF_INET), family: 0 };
}

export interface UsersaInit extends Partial<Omit<XfrmUsersaInfo, 'id' | 'saddr' | 'family'>> {
  daddr: string;
  saddr: string;
  spi: number;
  /** IPPROTO_ESP unless given */
  proto?: number;
  /** AF_INET unless given */
  family?: number;
}

/** A usersa_info for `daddr`/`spi`/`proto` (ESP) from `saddr`: transport mode, reqid 1, no replay window. */
export function usersaInfo(o: UsersaInit): XfrmUsersaInfo {
  const { daddr, saddr, spi, proto = 50, family = 2, ...rest } = o;
  return {
    sel: unspecSelector(family === 10),
    id: { daddr, spi, proto },
    saddr,
    lft: DEFAULT_LFT(),
    curlft: ZERO_CUR(),
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: 1,
    family,
    mode: 0,
    replayWindow: 0,
    flags: 0,
    ...rest,
  };
}
