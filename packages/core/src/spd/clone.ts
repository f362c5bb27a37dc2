/**
 * Deep copy of the plain records the tables store (policies, states): the result `structuredClone`
 * gives for plain objects, arrays, typed arrays, bigints and primitives, several times faster (no
 * serialisation round trip). Anything else (Map, Date, class instances with internal slots, cycles
 * or very deep nesting) is handed to `structuredClone`, so the behaviour — including the
 * DataCloneError for functions and symbols — is the same.
 */

const MAX_DEPTH = 24;

class Fallback extends Error {}

function cloneValue(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'function' || typeof v === 'symbol') throw new Fallback();
    return v;
  }
  if (depth > MAX_DEPTH) throw new Fallback();
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) throw new Fallback();
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw new Fallback();
      out[i] = cloneValue(v[i], depth + 1);
    }
    return out;
  }
  if (v instanceof Uint8Array && v.constructor === Uint8Array) return v.slice();
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw new Fallback();
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = cloneValue((v as Record<string, unknown>)[k], depth + 1);
  return out;
}

/** `structuredClone(v)` for the records of the SPD/SAD, fast for plain data. */
export function clonePlain<T>(v: T): T {
  try {
    return cloneValue(v, 0) as T;
  } catch (e) {
    if (e instanceof Fallback) return structuredClone(v);
    throw e;
  }
}
