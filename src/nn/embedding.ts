/** Token embedding table [V, D] with lookup by integer id. */
import { np, type Array } from "../engine/index.js";
import { KeyGen, normalInit } from "./init.js";

export type Embedding = { table: Array };

export function initEmbedding(kg: KeyGen, name: string, vocab: number, dim: number, std = 0.02): Embedding {
  return { table: normalInit(kg, `${name}.table`, [vocab, dim], std) };
}

/** ids: int32 [...] -> [..., D]. */
export function embed(p: Embedding, ids: Array): Array {
  return np.take(p.table, ids, 0);
}

/** Tied output head: h [..., D] -> logits [..., V] = h · Eᵀ. */
export function unembed(p: Embedding, h: Array): Array {
  return np.matmul(h, p.table.transpose());
}
