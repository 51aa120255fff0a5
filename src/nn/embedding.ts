/** Token embedding table [V, D] with lookup by integer id. */
import { np, jnn, type Array } from "../engine/index.js";
import { KeyGen, normalInit } from "./init.js";

export type Embedding = { table: Array };

export function initEmbedding(kg: KeyGen, name: string, vocab: number, dim: number, std = 0.02): Embedding {
  return { table: normalInit(kg, `${name}.table`, [vocab, dim], std) };
}

/**
 * How `embed` looks rows up. `gather` (default) is `take(table, ids)`: cheapest forward, but jax-js
 * differentiates it into a scatter that runs as a single-threaded JS routine (about 30 ms of the
 * reference step). `onehot` is `oneHot(ids, V) · table`: the same values exactly (each row is one
 * table row times 1 plus zeros), with a table gradient that is a matmul split across the wasm
 * workers, at 2·N·V·D FLOPs each way. Only worth it for small V, and only where the incoming
 * gradient is materialised: jax-js fuses an element-wise producer into a reduction, so when the
 * embedding's gradient is a long expression (RMSNorm + RoPE blocks with nothing else consuming it)
 * the one-hot matmul recomputes that expression for every table entry: 683 ms of a 1.2 s step in
 * one measured case, against 30 ms for the scatter. `lmForward` picks `onehot` only with learned
 * positions, where the position table's gradient shares (and so materialises) the same array.
 */
export type EmbedVia = "gather" | "onehot";
/** Largest vocabulary for which `lmForward` uses the one-hot lookup (the matmuls grow with V). */
export const ONEHOT_MAX_VOCAB = 512;

/** ids: int32 [...] -> [..., D]. */
export function embed(p: Embedding, ids: Array, via: EmbedVia = "gather"): Array {
  if (via === "onehot") return np.matmul(jnn.oneHot(ids, p.table.shape[0]), p.table);
  return np.take(p.table, ids, 0);
}

/** Tied output head: h [..., D] -> logits [..., V] = h · Eᵀ. */
export function unembed(p: Embedding, h: Array): Array {
  return np.matmul(h, p.table.transpose());
}
