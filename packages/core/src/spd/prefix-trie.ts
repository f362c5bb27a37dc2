/**
 * Path-compressed binary trie (Patricia) over address prefixes of up to 128 bits, keys as four
 * 32-bit words. Each node stores a prefix (`k0..k3` masked to `plen`, with masks `m0..m3`); nodes
 * without a value are pure branching nodes. A lookup walks from the root along the bits of an address
 * and visits every stored prefix that contains it, shortest first, in O(depth) steps.
 *
 * The node fields are public so that hot lookups can walk the trie inline without callbacks.
 */
import { maskWord } from './address-words.ts';

export class TrieNode<V> {
  value: V | undefined = undefined;
  c0: TrieNode<V> | undefined = undefined;
  c1: TrieNode<V> | undefined = undefined;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  readonly k0: number;
  readonly k1: number;
  readonly k2: number;
  readonly k3: number;
  constructor(
    k0: number,
    k1: number,
    k2: number,
    k3: number,
    readonly plen: number,
  ) {
    this.m0 = maskWord(plen, 0);
    this.m1 = maskWord(plen, 1);
    this.m2 = maskWord(plen, 2);
    this.m3 = maskWord(plen, 3);
    this.k0 = k0 & this.m0;
    this.k1 = k1 & this.m1;
    this.k2 = k2 & this.m2;
    this.k3 = k3 & this.m3;
  }

  /** True if the address (a0..a3) lies inside this node's prefix. */
  contains(a0: number, a1: number, a2: number, a3: number): boolean {
    return (
      (a0 & this.m0) === this.k0 &&
      (a1 & this.m1) === this.k1 &&
      (a2 & this.m2) === this.k2 &&
      (a3 & this.m3) === this.k3
    );
  }
}

/** Bit `pos` (0 = most significant bit of word 0) of an address. */
export function bitAt(a0: number, a1: number, a2: number, a3: number, pos: number): number {
  const w = pos >>> 5;
  const word = w === 0 ? a0 : w === 1 ? a1 : w === 2 ? a2 : a3;
  return (word >>> (31 - (pos & 31))) & 1;
}

function clz32w(x: number): number {
  return Math.clz32(x);
}

/** Length of the common prefix of two addresses, capped at `max`. */
export function commonPrefix(a: readonly number[], b: readonly number[], max: number): number {
  let n = 0;
  for (let w = 0; w < 4 && n < max; w++) {
    const x = a[w]! ^ b[w]!;
    if (x === 0) {
      n += 32;
      continue;
    }
    n += clz32w(x);
    break;
  }
  return Math.min(n, max);
}

export class PrefixTrie<V> {
  root: TrieNode<V> | undefined = undefined;
  /** number of nodes that hold a value. */
  size = 0;

  constructor(readonly maxBits: 32 | 128) {}

  /** The value stored for exactly (prefix, plen). */
  get(k: readonly number[], plen: number): V | undefined {
    let n = this.root;
    while (n !== undefined) {
      if (n.plen > plen || !n.contains(k[0]!, k[1]!, k[2]!, k[3]!)) return undefined;
      if (n.plen === plen) return n.value;
      n = bitAt(k[0]!, k[1]!, k[2]!, k[3]!, n.plen) === 0 ? n.c0 : n.c1;
    }
    return undefined;
  }

  /** The value for (prefix, plen), created with `make` if absent. */
  getOrCreate(k: readonly number[], plen: number, make: () => V): V {
    const node = this.insertNode(k, plen);
    if (node.value === undefined) {
      node.value = make();
      this.size++;
    }
    return node.value;
  }

  private insertNode(k: readonly number[], plen: number): TrieNode<V> {
    const make = () => new TrieNode<V>(k[0]!, k[1]!, k[2]!, k[3]!, plen);
    if (this.root === undefined) {
      this.root = make();
      return this.root;
    }
    let parent: TrieNode<V> | undefined;
    let n: TrieNode<V> = this.root;
    for (;;) {
      const nk = [n.k0, n.k1, n.k2, n.k3];
      const cpl = commonPrefix(k, nk, Math.min(plen, n.plen));
      if (cpl < n.plen) {
        let repl: TrieNode<V>;
        let leaf: TrieNode<V>;
        if (cpl === plen) {
          // the new prefix contains n: it becomes n's parent
          leaf = make();
          if (bitAt(n.k0, n.k1, n.k2, n.k3, plen) === 0) leaf.c0 = n;
          else leaf.c1 = n;
          repl = leaf;
        } else {
          // diverge at bit cpl: branching node with both
          const branch = new TrieNode<V>(k[0]!, k[1]!, k[2]!, k[3]!, cpl);
          leaf = make();
          if (bitAt(k[0]!, k[1]!, k[2]!, k[3]!, cpl) === 0) {
            branch.c0 = leaf;
            branch.c1 = n;
          } else {
            branch.c1 = leaf;
            branch.c0 = n;
          }
          repl = branch;
        }
        this.replaceChild(parent, n, repl);
        return leaf;
      }
      if (plen === n.plen) return n;
      const b = bitAt(k[0]!, k[1]!, k[2]!, k[3]!, n.plen);
      const child = b === 0 ? n.c0 : n.c1;
      if (child === undefined) {
        const leaf = make();
        if (b === 0) n.c0 = leaf;
        else n.c1 = leaf;
        return leaf;
      }
      parent = n;
      n = child;
    }
  }

  private replaceChild(
    parent: TrieNode<V> | undefined,
    old: TrieNode<V>,
    repl: TrieNode<V> | undefined,
  ): void {
    if (parent === undefined) this.root = repl;
    else if (parent.c0 === old) parent.c0 = repl;
    else parent.c1 = repl;
  }

  /** Removes the value at (prefix, plen) and prunes empty nodes. Returns the removed value. */
  delete(k: readonly number[], plen: number): V | undefined {
    const path: TrieNode<V>[] = [];
    let n = this.root;
    while (n !== undefined) {
      if (n.plen > plen || !n.contains(k[0]!, k[1]!, k[2]!, k[3]!)) return undefined;
      path.push(n);
      if (n.plen === plen) break;
      n = bitAt(k[0]!, k[1]!, k[2]!, k[3]!, n.plen) === 0 ? n.c0 : n.c1;
    }
    if (n === undefined || n.value === undefined) return undefined;
    const v = n.value;
    n.value = undefined;
    this.size--;
    // prune: a node without value and with < 2 children is removed (replaced by its only child)
    for (let i = path.length - 1; i >= 0; i--) {
      const node = path[i]!;
      if (node.value !== undefined) break;
      const kids = (node.c0 !== undefined ? 1 : 0) + (node.c1 !== undefined ? 1 : 0);
      if (kids === 2) break;
      const only = node.c0 ?? node.c1;
      this.replaceChild(path[i - 1], node, only);
    }
    return v;
  }

  /** Values of every stored prefix containing the address, shortest prefix first. */
  matching(a: readonly number[]): V[] {
    const out: V[] = [];
    let n = this.root;
    while (n?.contains(a[0]!, a[1]!, a[2]!, a[3]!)) {
      if (n.value !== undefined) out.push(n.value);
      if (n.plen >= this.maxBits) break;
      n = bitAt(a[0]!, a[1]!, a[2]!, a[3]!, n.plen) === 0 ? n.c0 : n.c1;
    }
    return out;
  }

  /** Every stored value (any order). */
  *values(): IterableIterator<V> {
    const stack: TrieNode<V>[] = [];
    if (this.root !== undefined) stack.push(this.root);
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.value !== undefined) yield n.value;
      if (n.c0 !== undefined) stack.push(n.c0);
      if (n.c1 !== undefined) stack.push(n.c1);
    }
  }
}
