// Pilot (issue 24, PPO at 40 updates): process CPU time of one PPO update's learner at the quick preset, variants
// interleaved in one process. From CKPT (an SFT-init checkpoint; `random` = a fresh model), one rollout (64 slots x 4
// rounds at the rollout temperature, the PPO arm's first update's seeds) gives the samples; then every variant runs
// the learner of one policy update (4 epochs x 4 minibatches, micro-batches of 16) from the same parameters, Adam
// state and shuffle stream, ROUNDS times after one warm-up each (compilation), and prints its CPU ms, the sums of
// its metrics (to all digits) and a checksum of the parameters after it. Run with TINYFOUNDRY_THREADS=1.
// Usage: [WARM=1: value warm-up step] [SCRIPTED=p1,p2] [NAV=1] npx tsx scripts/pilots/sft-vs-rl-learner.mts CKPT [ROUNDS] [VARIANTS comma-separated]
const { initEngine, disposeTree, refTree, tree, jit, jnn, np } = await import("../../src/engine/index.js");
const { initLM, lmForward } = await import("../../src/nn/transformer.js");
const { answerTokens, renderChat } = await import("../../src/papers/sft-vs-rl/tokenizer.js");
const { loadCheckpoint } = await import("../../src/train/checkpoint.js");
const { sftVsRlPresets } = await import("../../src/papers/sft-vs-rl/config.js");
const { setup } = await import("../../src/papers/sft-vs-rl/arms.js");
const { initValueHead, valueHeadToHost, ppoLoss } = await import("../../src/papers/sft-vs-rl/model.js");
const { buildSamples, lengthBucket, makeAccumulatingStep, ppoLearn, PPO_LEARNERS } = await import("../../src/papers/sft-vs-rl/ppo.js");
const { collectRollout, initRolloutState } = await import("../../src/papers/sft-vs-rl/rollout.js");
const { gpSpec, navSpec } = await import("../../src/papers/sft-vs-rl/tasks.js");
const { sftVsRlNavPresets } = await import("../../src/papers/sft-vs-rl/nav-entry.js");
const { adamwInit, defaultDecayMask } = await import("../../src/optim/adamw.js");
const { Rng } = await import("../../src/util/rng.js");
type LMParams = import("../../src/nn/transformer.js").LMParams;
type Array = import("../../src/engine/index.js").Array;
type LearnerName = keyof typeof PPO_LEARNERS;
type Rollout = import("../../src/papers/sft-vs-rl/rollout.js").Rollout;
type Transition = import("../../src/papers/sft-vs-rl/rollout.js").Transition;
type Message = import("../../src/envs/index.js").Message;

await initEngine();
// NAV=1: the sft-vs-rl-nav entry's quick preset and its navigation task (with SCRIPTED, every answer is the oracle's).
const nav = !!process.env.NAV;
const cfg = nav ? sftVsRlNavPresets.quick : sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = nav ? navSpec(cfg, tok, model.contextLength) : gpSpec(cfg);
const [ck, roundsArg, variantsArg] = process.argv.slice(2);
const lm = ck === "random" ? initLM(model, 0) : (loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams);
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const ppo = spec.ppo;
const warm = !!process.env.WARM;

// One rollout from the init, as the PPO arm's first update draws it; or (SCRIPTED=p1,p2) a scripted policy that answers
// the environment's expert answer with probability p1 on first turns and p2 on retries and otherwise the expert answer
// with its formula's first operator changed (a wrong formula of the same length), in the same slot loop as
// collectRollout (revision turns, rendered prompts). Its log-probs are the init's own (one forward per call), so the
// first epoch's ratios are 1 as in PPO; V(s) = 0 (an untrained head gives about 0).
const seedOf = (ep: number) => new Rng(0, `ppo-episode-${ep}`).nextU32();
const value0 = initValueHead(model.dModel, 0);
const c0 = cpuMs();
const state = initRolloutState(() => spec.makeEnv("id", ppo.verifyIter), ppo.slots, seedOf);
const scripted = process.env.SCRIPTED?.split(",").map(Number);
const roll = scripted ? await scriptedRollout(scripted[0], scripted[1]) : await collectRollout({ params: lm, valueWeights: await valueHeadToHost(value0), cfg: model, tok, state, rounds: ppo.rounds, sampling: spec.sampling, rng: Rng.stream(0, "ppo-sample"), seedOf });
const rolloutMs = cpuMs() - c0;

async function scriptedRollout(p1: number, p2: number): Promise<Rollout> {
  const rng = Rng.stream(0, "scripted");
  const transitions: Transition[][] = state.slots.map(() => []);
  const episodes: { success: boolean; reward: number }[] = [];
  let inferenceTokens = 0;
  const logp = jit((p: LMParams, x: Array, y: Array) => jnn.logSoftmax(lmForward(p, model, x).logits, -1).mul(jnn.oneHot(y, model.vocabSize)).sum(-1));
  for (let round = 0; round < ppo.rounds; round++) {
    for (const [i, st] of state.slots.entries()) {
      const prompt = renderChat(tok, st.conv, model.contextLength - spec.sampling.maxNewTokens);
      const expert = st.env.expertAnswer();
      const right = nav || rng.next() < (st.turns === 0 ? p1 : p2);
      const ops = ["+", "-", "*", "/"];
      const at = [...expert].findIndex((c, k) => ops.includes(c) && k > expert.indexOf("formula"));
      const answer = right || at < 0 ? expert : expert.slice(0, at) + ops[(ops.indexOf(expert[at]) + 1 + rng.int(3)) % 4] + expert.slice(at + 1);
      const response = answerTokens(tok, answer).slice(0, spec.sampling.maxNewTokens);
      const seq = [...prompt, ...response];
      // One shape (the context; causal, so the padding after the sequence changes nothing before it).
      const T = model.contextLength;
      const x = new Int32Array(T);
      const y = new Int32Array(T);
      x.set(seq.slice(0, -1));
      y.set(seq.slice(1));
      const lp = (await logp(refTree(lm), np.array(x, { dtype: np.int32 }).reshape([1, T]), np.array(y, { dtype: np.int32 }).reshape([1, T])).data()) as Float32Array;
      const logprobs = Array.from(lp.slice(prompt.length - 1, seq.length - 1));
      inferenceTokens += seq.length;
      const res = st.env.step(answer);
      let reward = res.reward;
      st.reward += res.reward;
      st.turns++;
      st.conv.push({ role: "assistant", content: answer });
      let done = res.done;
      let truncated = false;
      let success = res.info.success;
      if (!done && res.info.attemptsLeft <= 0) {
        const end = st.env.step("");
        reward += end.reward;
        st.reward += end.reward;
        done = true;
        truncated = true;
        success = end.info.success;
      }
      transitions[i].push({ slot: i, prompt, response, logprobs, value: 0, reward, done, truncated });
      if (done) {
        episodes.push({ success, reward: st.reward });
        const ep = state.nextEpisode++;
        const conv: Message[] = [{ role: "user", content: st.env.reset(seedOf(ep)).text }];
        state.slots[i] = { ...st, conv, convs: [conv], episode: ep, reward: 0, turns: 0, correct: 0 };
      } else if (res.observation.kind === "prompt") {
        st.conv = [{ role: "user", content: res.observation.text }];
        st.convs = [st.conv];
      } else st.conv.push({ role: "user", content: res.observation.text });
    }
  }
  logp.dispose();
  return { transitions, nextValues: state.slots.map(() => 0), episodes, inferenceTokens };
}
const samples = buildSamples(roll.transitions, roll.nextValues, tok, ppo);
const lens = samples.map((s) => s.seq.length - 1).sort((a, b) => a - b);
const q = (p: number) => lens[Math.min(lens.length - 1, Math.floor(p * lens.length))];
const rewarded = roll.transitions.flat().filter((t) => t.reward > 0).length;
console.log(JSON.stringify({ rolloutCpuMs: Math.round(rolloutMs), calls: samples.length, rewarded, meanTokensPerCall: roll.inferenceTokens / samples.length, episodes: roll.episodes.length, solved: roll.episodes.filter((e) => e.success).length, inputLen: { min: lens[0], p25: q(0.25), p50: q(0.5), p75: q(0.75), p90: q(0.9), max: lens[lens.length - 1] }, over128: lens.filter((l) => lengthBucket(l, model.contextLength) > 128).length }));

const lossCfg = { clip: ppo.clip, valueClip: ppo.valueClip, valueLossCoef: ppo.valueLossCoef, temperature: Math.max(spec.sampling.temperature, 1e-6), ratioCap: ppo.ratioCap, ...(warm ? { valueOnly: true } : {}) };
const stepOpts = { adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-7, weightDecay: 0 }, clip: ppo.maxGradNorm };
const fresh = () => ({ lm: refTree(lm), value: initValueHead(model.dModel, 0) });
const names = (variantsArg ?? Object.keys(PPO_LEARNERS).join(",")).split(",") as LearnerName[];
const steps = Object.fromEntries(
  names.map((nm) => {
    const p0 = fresh();
    const s = makeAccumulatingStep((p, b) => ppoLoss(p, model, lossCfg, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], undefined, undefined, PPO_LEARNERS[nm].responseHead ? b[8] : undefined), { ...stepOpts, decayMask: defaultDecayMask(p0), learner: PPO_LEARNERS[nm] });
    disposeTree(p0);
    return [nm, s];
  }),
);
const checksum = async (p: import("../../src/papers/sft-vs-rl/model.js").PolicyParams): Promise<string> => {
  const leaves = tree.flatten<Array>(refTree(p))[0];
  let s = 0;
  let a = 0;
  for (const l of leaves) for (const v of (await l.data()) as Float32Array) {
    s += v;
    a += Math.abs(v);
  }
  return `${s} ${a}`;
};
const once = async (nm: LearnerName) => {
  const params = fresh();
  const opt = adamwInit(params);
  const t0 = cpuMs();
  const w0 = performance.now();
  const r = await ppoLearn({ samples, params, opt, step: steps[nm], lr: 1e-5, update: 2, ppo, shuffle: Rng.stream(0, "ppo-shuffle"), contextLength: model.contextLength, learner: PPO_LEARNERS[nm] });
  const ms = cpuMs() - t0;
  const wall = performance.now() - w0;
  const sum = await checksum(r.params);
  disposeTree(r.params);
  disposeTree(r.opt);
  return { cpuMs: Math.round(ms), wallMs: Math.round(wall), n: r.n, sums: r.sums, params: sum };
};
for (const nm of names) console.log(JSON.stringify({ warmup: nm, ...(await once(nm)) }));
const rounds = Number(roundsArg ?? 2);
for (let k = 0; k < rounds; k++) for (const nm of names) console.log(JSON.stringify({ variant: nm, round: k, ...(await once(nm)) }));
process.exit(0);
