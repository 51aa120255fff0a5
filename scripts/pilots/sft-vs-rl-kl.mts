// KL-to-init pilot (sft-vs-rl, issue 24): post hoc on a finished run's arm checkpoints, the old readout (Monte Carlo
// term Σ log π − log π_init of answers sampled at the evaluation temperature) beside the new one (per-token exact KL
// summed along answers sampled at the PPO rollout temperature), for the SFT init against itself, the PPO and the SFT
// branch's final checkpoints, per task seed. Also what the old readout was made of: the share of answers whose own
// log-probability is exactly 0 in float32, and whether the branch's sampled answers equal the init's.
// TIME=1: instead, the process CPU seconds of one readout (PPO and SFT final checkpoints of seed 0) at the evaluation and
// at the rollout temperature, interleaved, 3 rounds (run with TINYFOUNDRY_THREADS=1).
// Usage: [TIME=1] npx tsx scripts/pilots/sft-vs-rl-kl.mts RUN_DIR [PROMPTS=128] [SEEDS=1]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initEngine, disposeTree } from "../../src/engine/index.js";
import { sftVsRlSchema } from "../../src/papers/sft-vs-rl/config.js";
import { setup, klToInit, klToInitDetail, loadArmLM, type KLDetail } from "../../src/papers/sft-vs-rl/arms.js";
import { gpSpec } from "../../src/papers/sft-vs-rl/tasks.js";

const [runDir, nArg, seedsArg] = process.argv.slice(2);
if (!runDir) throw new Error("usage: sft-vs-rl-kl.mts RUN_DIR [PROMPTS] [SEEDS]");
await initEngine();
const cfg = sftVsRlSchema.parse(JSON.parse(readFileSync(join(runDir, "config.json"), "utf8")));
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const n = +(nArg ?? 128);
const mean = (a: Float64Array) => a.reduce((s, x) => s + x, 0) / a.length;
const se = (a: Float64Array) => {
  const m = mean(a);
  return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1) / a.length);
};
if (process.env.TIME) {
  const init = loadArmLM(join(runDir, "arms", "sft-init"), model, cfg.seed, false);
  const branches = [["PPO", loadArmLM(join(runDir, "arms", "ppo"), model, cfg.seed, true)], ["SFT", loadArmLM(join(runDir, "arms", "sft"), model, cfg.seed, false)]] as const;
  const cpu = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1e6;
  };
  for (let r = 0; r < 3; r++) {
    for (const [name, p] of branches) {
      for (const T of [cfg.eval.temperature, spec.sampling.temperature]) {
        const c0 = cpu();
        const kl = await klToInit(p, init, model, tok, cfg, spec, n, { temperature: T });
        console.log(`round ${r} ${name} T ${T}: CPU ${(cpu() - c0).toFixed(2)} s (KL ${kl.toFixed(4)})`);
      }
    }
  }
  process.exit(0);
}
const f = (x: number) => (Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(3) : x.toFixed(4));
const line = (label: string, d: KLDetail, ref?: KLDetail) => {
  const zero = d.logp.filter((x) => x === 0).length / d.logp.length;
  const same = ref ? d.answers.filter((a, i) => a.join(",") === ref.answers[i].join(",")).length / d.answers.length : NaN;
  console.log(`${label} T=${d.temperature}: exact ${f(mean(d.exact))} ± ${f(se(d.exact))}  MC ${f(mean(d.mc))} ± ${f(se(d.mc))}  log π(a)=0: ${(100 * zero).toFixed(1)} %  answers = init's: ${(100 * same).toFixed(1)} %  mean log π(a) ${f(mean(d.logp))}`);
};
for (let s = 0; s < +(seedsArg ?? 1); s++) {
  const suf = s === 0 ? "" : `-s${cfg.seed + s}`;
  const arm = (a: string) => join(runDir, "arms", a + suf);
  const init = loadArmLM(arm("sft-init"), model, cfg.seed, false);
  const ppo = loadArmLM(arm("ppo"), model, cfg.seed, true);
  const sft = loadArmLM(arm("sft"), model, cfg.seed, false);
  for (const T of [cfg.eval.temperature, spec.sampling.temperature]) {
    const t0 = Date.now();
    const di = await klToInitDetail(init, init, model, tok, cfg, spec, n, { temperature: T });
    line(`seed ${s} init vs init`, di);
    line(`seed ${s} PPO  vs init`, await klToInitDetail(ppo, init, model, tok, cfg, spec, n, { temperature: T }), di);
    line(`seed ${s} SFT  vs init`, await klToInitDetail(sft, init, model, tok, cfg, spec, n, { temperature: T }), di);
    console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  for (const p of [init, ppo, sft]) disposeTree(p);
}
process.exit(0);
