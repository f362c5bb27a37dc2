/**
 * Backward-shift deletion for the linear-probing tables of the SPD index (`prefix-table.ts`) and the
 * SAD's SPI table (`sad/spi-table.ts`): both keep fixed-size slots of int32 words in one typed array,
 * a slot being empty when its marker word is 0.
 */

/** What `backshiftDelete` needs of a table. */
export interface ProbedSlots {
  readonly shift: number;
  readonly mask: number;
  /** Home slot of the key stored at word offset `o` of `sl`. */
  homeAt(sl: Int32Array, o: number): number;
}

/**
 * Empties slot `i` of `sl` without tombstones: each later slot of the probe run moves back into the
 * hole unless its home lies cyclically in (hole, slot]. `moved(to, from)` is told of each move (for
 * arrays kept parallel to the slots). Returns the slot left empty, whose words are zeroed.
 */
export function backshiftDelete(
  t: ProbedSlots,
  sl: Int32Array,
  i: number,
  markerAt: number,
  moved?: (to: number, from: number) => void,
): number {
  const sh = t.shift;
  const mask = t.mask;
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const o = j << sh;
    if (sl[o + markerAt] === 0) break;
    const home = t.homeAt(sl, o);
    // move j back to i unless its home lies cyclically in (i, j]
    const stays = i <= j ? home > i && home <= j : home > i || home <= j;
    if (!stays) {
      sl.copyWithin(i << sh, o, o + (1 << sh));
      moved?.(i, j);
      i = j;
    }
  }
  sl.fill(0, i << sh, (i + 1) << sh);
  return i;
}
