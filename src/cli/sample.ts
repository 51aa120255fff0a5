/** `tinyfoundry sample DIR --prompt TEXT`: load a run's config, tokenizer and checkpoint, generate. */
import { existsSync, readFileSync } from "node:fs";
import { tree } from "../engine/index.js";
import { openRun } from "../train/run-dir.js";
import { latestCheckpoint, loadCheckpoint } from "../train/checkpoint.js";
import { initLM, type LMConfig, type LMParams } from "../nn/transformer.js";
import { generate } from "../nn/generate.js";
import { BPETokenizer, ByteTokenizer, type BPEJson, type Tokenizer } from "../data/tokenizer.js";
import { lmExperimentSchema } from "../lm/config.js";
import { validateConfig, ConfigError } from "../train/config.js";
import { Rng } from "../util/rng.js";

export async function sampleFromRun(
  dir: string,
  o: { prompt: string; tokens: string; temperature: string; topK: string; topP: string; seed: string },
): Promise<string> {
  const run = openRun(dir);
  if (run.meta().experiment !== "lm") throw new ConfigError(`sample: ${dir} is a "${run.meta().experiment}" run; sample works on "lm" runs`);
  const cfg = validateConfig(lmExperimentSchema, run.config());
  const tokPath = run.path("tokenizer.json");
  const tok: Tokenizer =
    cfg.data.tokenizer === "bpe" && existsSync(tokPath) ? BPETokenizer.fromJSON(JSON.parse(readFileSync(tokPath, "utf8")) as BPEJson) : new ByteTokenizer();
  const model: LMConfig = { ...cfg.model, vocabSize: tok.vocabSize };
  const f = latestCheckpoint(run.dir);
  if (!f) throw new ConfigError(`sample: ${dir} has no checkpoint yet (checkpoints/latest.safetensors)`);
  const ck = loadCheckpoint(f, { params: initLM(model, cfg.seed) });
  const params = ck.trees.params as LMParams;
  const num = (name: string, v: string, lo: number, hi: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new ConfigError(`--${name}: expected a number in [${lo}, ${hi}], got "${v}"`);
    return n;
  };
  const prompt = tok.encode(o.prompt);
  if (prompt.length === 0) throw new ConfigError("--prompt: must not be empty");
  const ctx = prompt.slice(-Math.floor(model.contextLength / 2));
  const n = Math.min(num("tokens", o.tokens, 1, 100000), model.contextLength - ctx.length);
  const r = await generate(params, model, [ctx], {
    maxNewTokens: n,
    temperature: num("temperature", o.temperature, 0, 10),
    topK: num("top-k", o.topK, 0, 1e9),
    topP: num("top-p", o.topP, 0, 1),
    rng: Rng.stream(num("seed", o.seed, 0, 2 ** 31), "sample"),
  });
  tree.dispose(params);
  return o.prompt + tok.decode(r.tokens[0]);
}
