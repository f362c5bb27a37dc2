import { infiniteLifetime } from '../../src/lifetime/lifetime.ts';
import type { XfrmPolicy, XfrmState } from '../../src/types/objects.ts';
import type { XfrmSelector } from '../../src/types/xfrm.ts';
import { AF_INET, AF_INET6, IPPROTO, XFRM_MODE } from '../../src/types/xfrm.ts';

export function sel(over: Partial<XfrmSelector> = {}): XfrmSelector {
  const family = over.family ?? AF_INET;
  const any = family === AF_INET6 ? '::' : '0.0.0.0';
  return {
    daddr: any,
    saddr: any,
    dport: 0,
    dportMask: 0,
    sport: 0,
    sportMask: 0,
    family,
    prefixlenD: 0,
    prefixlenS: 0,
    proto: 0,
    ifindex: 0,
    user: 0,
    ...over,
  };
}

export interface StateOpts {
  daddr?: string;
  saddr?: string;
  spi?: number;
  proto?: number;
  family?: number;
  reqid?: number;
  mode?: number;
  seq?: number;
  flags?: number;
}

/** An ESP AES-GCM-128 SA (the only cipher mlx5 offloads). */
export function gcmState(o: StateOpts = {}, extra: Partial<XfrmState> = {}): XfrmState {
  const family = o.family ?? AF_INET;
  const daddr = o.daddr ?? (family === AF_INET ? '10.0.0.2' : '2001:db8::2');
  const saddr = o.saddr ?? (family === AF_INET ? '10.0.0.1' : '2001:db8::1');
  return {
    info: {
      sel: sel({ family: 0 }),
      id: { daddr, spi: o.spi ?? 0x1000, proto: o.proto ?? IPPROTO.ESP },
      saddr,
      lft: infiniteLifetime(),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      seq: o.seq ?? 0,
      reqid: o.reqid ?? 1,
      family,
      mode: o.mode ?? XFRM_MODE.TRANSPORT,
      replayWindow: 0,
      flags: o.flags ?? 0,
    },
    aead: { name: 'rfc4106(gcm(aes))', keyLen: 160, key: new Uint8Array(20), icvLen: 128 },
    ...extra,
  };
}

export interface PolicyOpts {
  dir?: number;
  priority?: number;
  index?: number;
  action?: number;
  ptype?: number;
}

export function policy(
  s: Partial<XfrmSelector>,
  o: PolicyOpts = {},
  extra: Partial<XfrmPolicy> = {},
): XfrmPolicy {
  return {
    info: {
      sel: sel(s),
      lft: infiniteLifetime(),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      priority: o.priority ?? 0,
      index: o.index ?? 0,
      dir: o.dir ?? 1,
      action: o.action ?? 0,
      flags: 0,
      share: 0,
    },
    tmpls: [],
    ...(o.ptype !== undefined ? { ptype: o.ptype } : {}),
    ...extra,
  };
}
