/**
 * A min-heap of (deadline, item) with lazy cancellation: re-arming an item bumps its generation so
 * stale heap nodes are skipped. Lets the SAD/SPD run only the timers that are due instead of scanning
 * every object on each tick.
 */
export interface Timed {
  /** generation of the currently armed deadline; stale heap nodes carry an older value. */
  timerGen: number;
}

interface Node<T> {
  at: number;
  gen: number;
  item: T;
}

/** What `popDue` returns when nothing is due (shared, never written). */
const NOTHING_DUE: readonly never[] = Object.freeze([]);

export class TimerQueue<T extends Timed> {
  private heap: Node<T>[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** Arms `item` for time `at` (Infinity disarms). Any earlier arming is cancelled. */
  arm(item: T, at: number): void {
    item.timerGen++;
    if (!Number.isFinite(at)) return;
    this.push({ at, gen: item.timerGen, item });
  }

  cancel(item: T): void {
    item.timerGen++;
  }

  /**
   * Removes and returns the items whose deadline is ≤ now, earliest first. Nothing due (the common
   * case: the tables tick before every request) returns a shared empty list without allocating.
   */
  popDue(now: number): readonly T[] {
    if (this.heap.length === 0 || this.heap[0]!.at > now) return NOTHING_DUE;
    const out: T[] = [];
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (top.at > now) break;
      this.pop();
      if (top.gen === top.item.timerGen) {
        top.item.timerGen++;
        out.push(top.item);
      }
    }
    return out;
  }

  /** Earliest live deadline, or Infinity. */
  peek(): number {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (top.gen === top.item.timerGen) return top.at;
      this.pop();
    }
    return Number.POSITIVE_INFINITY;
  }

  clear(): void {
    this.heap = [];
  }

  private push(n: Node<T>): void {
    const h = this.heap;
    h.push(n);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= n.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = n;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
