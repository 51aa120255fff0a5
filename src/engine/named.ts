/**
 * Pytrees as named flat maps (`{ "blocks.0.attn.wq.weight": Array }`), the form checkpoints and
 * gradient checks use. Object keys keep insertion order.
 */
import type { numpy } from "@jax-js/jax";

type Array = numpy.Array;

/** Flatten a pytree of arrays to `{ "a.b.0.c": Array }` (object keys in insertion order). */
export function flattenNamed(tree: unknown, prefix = "", out: Record<string, Array> = {}): Record<string, Array> {
  if (tree && typeof tree === "object" && !Array.isArray(tree) && "shape" in (tree as object) && "dtype" in (tree as object)) {
    out[prefix] = tree as Array;
  } else if (Array.isArray(tree)) {
    tree.forEach((t, i) => flattenNamed(t, prefix ? `${prefix}.${i}` : String(i), out));
  } else if (tree && typeof tree === "object") {
    for (const [k, v] of Object.entries(tree)) flattenNamed(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

/** Rebuild a tree shaped like `template` from named arrays (template leaves are not consumed). */
export function unflattenNamed<T>(template: T, named: Record<string, Array>, prefix = ""): T {
  const t = template as unknown;
  if (t && typeof t === "object" && !Array.isArray(t) && "shape" in (t as object) && "dtype" in (t as object)) {
    const a = named[prefix];
    if (!a) throw new Error(`checkpoint: missing tensor ${prefix}`);
    const want = (t as Array).shape;
    if (a.shape.join(",") !== want.join(",")) throw new Error(`checkpoint: ${prefix} has shape [${a.shape}], model expects [${want}]`);
    return a as T;
  }
  if (Array.isArray(t)) return t.map((x, i) => unflattenNamed(x, named, prefix ? `${prefix}.${i}` : String(i))) as T;
  if (t && typeof t === "object") {
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, unflattenNamed(v, named, prefix ? `${prefix}.${k}` : k)])) as T;
  }
  return t as T;
}
