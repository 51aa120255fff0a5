/** Token embedding table [V, D] with lookup by integer id. */
import { np, jnn, type Array } from "../engine/index.js";
import { KeyGen, normalInit } from "./init.js";

export type Embedding = { table: Array };

export function initEmbedding(kg: KeyGen, name: string, vocab: number, dim: number, std = 0.02): Embedding {
  return { table: normalInit(kg, `${name}.table`, [vocab, dim], std) };
}

/**
 * How `embed` looks rows up. `gather` is `take(table, ids)`: cheapest forward, but jax-js
 * differentiates it into a scatter that runs as a single-threaded JS routine (about 30 ms for the
 * reference step's 2,048 x 128 gradient rows). `onehot` is `oneHot(ids, V) · table`: the same
 * values (each row is one table row times 1 plus zeros), with a gradient that is one matmul split
 * across the wasm workers, at 2·N·V·D FLOPs each way. `auto` (default) takes `onehot` when
 * V <= ONEHOT_MAX_VOCAB, where the two matmuls still cost less than the scatter.
 */
export type EmbedVia = "auto" | "gather" | "onehot";
export const ONEHOT_MAX_VOCAB = 512;

/** ids: int32 [...] -> [..., D]. */
export function embed(p: Embedding, ids: Array, via: EmbedVia = "auto"): Array {
  const V = p.table.shape[0];
  if (via === "onehot" || (via === "auto" && V <= ONEHOT_MAX_VOCAB)) return np.matmul(jnn.oneHot(ids, V), p.table);
  return np.take(p.table, ids, 0);
}

/** Tied output head: h [..., D] -> logits [..., V] = h · Eᵀ. */
export function unembed(p: Embedding, h: Array): Array {
  return np.matmul(h, p.table.transpose());
}
