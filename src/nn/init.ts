/**
 * Seeded parameter initialisation. Each parameter's key is derived from the run seed and the
 * parameter's path (`blocks.0.attn.qkv.w`), so adding a layer never changes the others' values.
 */
import { np, random, type Array } from "../engine/index.js";
import { fnv1a32 } from "../util/hash.js";

/** A source of PRNG keys named by parameter path. */
export class KeyGen {
  constructor(
    readonly seed: number,
    readonly prefix = "init",
  ) {}
  key(name: string): Array {
    return random.key(fnv1a32(`${this.seed}:${this.prefix}:${name}`));
  }
  child(name: string): KeyGen {
    return new KeyGen(this.seed, `${this.prefix}/${name}`);
  }
}

/** N(0, std²) of `shape`, float32. */
export function normalInit(kg: KeyGen, name: string, shape: number[], std: number): Array {
  return random.normal(kg.key(name), shape).mul(std);
}

/** U(lo, hi) of `shape`. */
export function uniformInit(kg: KeyGen, name: string, shape: number[], lo: number, hi: number): Array {
  return random.uniform(kg.key(name), shape, { minval: lo, maxval: hi });
}

export function zerosInit(shape: number[]): Array {
  return np.zeros(shape);
}

export function onesInit(shape: number[]): Array {
  return np.ones(shape);
}
