/**
 * results.md of an `sft-vs-rl` run ("SFT Memorizes, RL Generalizes", arXiv 2501.17161): per trained task, our
 * rates beside the paper's, the memorization signature and the skills the claims presuppose, then the typed
 * verdicts of that task's claims (`verdictTableMarkdown`, from verdicts.json). Reads the summary and verdicts only.
 */
import type { VerdictsFile } from "../../train/claims.js";
import { verdictTableMarkdown } from "../../report/verdicts.js";
import { finalRow, sftCurve, type EvalPoint, type SftVsRlSummary, type TaskSummary } from "./summary.js";

const pct = (x: number | undefined) => (100 * Number(x)).toFixed(1);
const pm = (p: number | undefined, se: number | undefined) => `${pct(p)} ± ${pct(se)}`;
const signed = (x: number) => `${x >= 0 ? "+" : ""}${pct(x)}`;
const cap = (x: string) => x.charAt(0).toUpperCase() + x.slice(1);
const signedPts = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
export const fmtFlops = (x: number): string => `${x.toExponential(2)} FLOPs`;

/** The claim-id prefix of a task's claims (`claims.ts`). */
export const claimPrefix = (t: TaskSummary): string => (t.env === "general-points" ? "gp-" : t.env === "navigation" ? "nav-" : "vl-");

/** Episodes per split and evaluation point (fewer at the branches' intermediate checkpoints where so configured). */
const episodesNote = (t: TaskSummary, what = "episodes"): string =>
  t.midEpisodes !== undefined && t.midEpisodes < t.episodes ? `${t.episodes} ${what} per split at the SFT init and each branch's last checkpoint (${t.midEpisodes} at the intermediate checkpoints)` : `${t.episodes} ${what} per split and point`;

/** The Markdown block of one task run. */
function taskLines(t: TaskSummary, s: SftVsRlSummary, verdicts: VerdictsFile, preset: string): string[] {
  const vl = t.env === "general-points-vl";
  const gp = t.env === "general-points" || vl;
  const { key: k, seKey: se } = t.metric;
  const init = t.init.row;
  const rl = finalRow(t.ppo.points);
  const sf = finalRow(t.sft.points);
  const P = t.paper;
  const paperD = (x: number, base = P.init) => signedPts(x - base);
  const cells = (split: string, key: string, seKey: string) =>
    `${pm(init[`${split}${key}`], init[`${split}${seKey}`])} | ${pm(rl[`${split}${key}`], rl[`${split}${seKey}`])} | ${pm(sf[`${split}${key}`], sf[`${split}${seKey}`])} | ${signed(rl[`${split}${key}`] - init[`${split}${key}`])} | ${signed(sf[`${split}${key}`] - init[`${split}${key}`])}`;
  const compute = `both branches at equal FLOPs, each counted alone (PPO ${fmtFlops(t.ppo.flops)} in ${t.ppo.updates} updates, SFT ${fmtFlops(finalFlops(t))}; the SFT init before them took ${fmtFlops(t.init.flops)})`;
  const seedNote = s.tasks.filter((x) => x.env === t.env).length > 1 ? `, seed ${t.seed}` : "";
  const lines = [`### SFT vs RL on ${t.title} (${preset} preset${seedNote})`, ""];
  if (vl)
    lines.push(
      `Success rate and card-recognition accuracy (first answers whose "cards" list names the shown cards, §5.3) in % ± binomial standard error, ${episodesNote(t)}, verify_iter ${t.verifyIter}; the cards are a 36×112 grayscale image (black suits; visual OOD: red suits, ID rule) read by a patch encoder trained with the LM; ${compute}.`,
    );
  else if (gp) lines.push(`Success rate (%) ± binomial standard error, ${episodesNote(t)}, verify_iter ${t.verifyIter}; ${compute}.`);
  else
    lines.push(
      `Per-step accuracy (%) ± binomial standard error over graded steps (verification retries count as steps, App. C.3) and route success (%) ± binomial SE, ${episodesNote(t, "routes")}, verify_iter ${t.verifyIter} per point; ID = absolute action space, rule OOD = relative action space; ${compute}.`,
    );
  lines.push("", "| split | init (ours) | after RL (ours) | after SFT (ours) | RL Δ | SFT Δ | paper init | paper RL | paper SFT |", "|---|---|---|---|---|---|---|---|---|");
  if (vl) {
    const V = P.visual!;
    lines.push(
      `| GP-VL rule OOD | ${cells("ood", k, se)} | ${P.init} | ${P.rl} (${paperD(P.rl)}) | ${P.sft} (${paperD(P.sft)}) |`,
      `| GP-VL visual OOD | ${cells("vis", k, se)} | ${V.init} | ${V.rl} (${paperD(V.rl, V.init)}) | ${V.sft} (${paperD(V.sft, V.init)}) |`,
      `| GP-VL in-distribution | ${cells("id", k, se)} | (Fig. 5: both rise; SFT stays below RL) | | |`,
      `| card recognition, in-distribution | ${cells("id", "Recognition", "RecognitionStdErr")} | (Fig. 8: RL up, SFT down) | | |`,
      `| card recognition, rule OOD | ${cells("ood", "Recognition", "RecognitionStdErr")} | | | |`,
      `| card recognition, visual OOD | ${cells("vis", "Recognition", "RecognitionStdErr")} | | | |`,
    );
  } else if (gp) {
    lines.push(`| GP-L rule OOD | ${cells("ood", k, se)} | ${P.init} | ${P.rl} (${paperD(P.rl)}) | ${P.sft} (${paperD(P.sft)}) |`, `| GP-L in-distribution | ${cells("id", k, se)} | (Fig. 5: both rise) | | |`);
  } else {
    lines.push(
      `| V-IRL-L rule OOD, per-step accuracy | ${cells("ood", k, se)} | ${P.init} | ${P.rl} (${paperD(P.rl)}) | ${P.sft} (${paperD(P.sft)}) |`,
      `| V-IRL-L in-distribution, per-step accuracy | ${cells("id", k, se)} | (Fig. 5: both rise) | | |`,
      `| V-IRL-L rule OOD, route success | ${cells("ood", "Success", "StdErr")} | (not given) | | |`,
      `| V-IRL-L in-distribution, route success | ${cells("id", "Success", "StdErr")} | (not given) | | |`,
    );
  }
  const hk = `idRollTemp${k}`;
  const hs = `idRollTemp${se}`;
  if (typeof init[hk] === "number" && typeof rl[hk] === "number")
    lines.push("", `In distribution sampled at the PPO rollout temperature (what PPO optimises; the claims read it for "the PPO branch learned"): init ${pm(init[hk], init[hs])} %, after RL ${pm(rl[hk], rl[hs])} % (${signed(rl[hk] - init[hk])} points).`);
  const tr = t.trainingRuleKey;
  lines.push("", `${t.trainingRuleText}: init ${pct(init[tr])} %, after RL ${pct(rl[tr])} %, after SFT ${pct(sf[tr])} % (the paper's memorization signature).`);
  const s0 = s.stage0;
  const parse = `SFT init: ID answers parsed ${pct(init.idParsed)} %${gp ? `, OOD success ${pct(init.oodSuccess)} %` : `, first OOD answers turning in the relative action space ${pct(init.oodPromptTurn ?? init.oodPromptSpace)} % (any action of that space ${pct(init.oodPromptSpace)} %)`}.`;
  if (gp) {
    const m24 = s0.make24IdSolved === undefined ? "" : `, under the ID / OOD rule sentence ${pct(s0.ruleIdAccuracy)} / ${pct(s0.ruleOodAccuracy)} %; plain-format make-24 solved ${pct(s0.make24IdSolved)} % (ID rule) / ${pct(s0.make24OodSolved)} % (OOD rule)`;
    lines.push(`Stage 0 (greedy, ${s0.probes} probes each; gates 90 / 90 / 50 %): two-operand expressions ${pct(s0.arithmeticAccuracy)} %, card numbers under a stated rule ${pct(s0.ruleReadingAccuracy)} %${m24}. ${parse}`);
    lines.push(`${cap(t.title)} ID first answers following the stated rule ${pct(init.idPromptRule)} %, OOD ${pct(init.oodPromptRule)} % at the SFT init; after RL ${pct(rl.oodPromptRule)} %, after SFT ${pct(sf.oodPromptRule)} % on OOD (every OOD hand holds a J, Q or K, so this is rule-following on face cards, apart from arithmetic success).`);
  }
  else lines.push(`Stage 0 navigation skills: action-space reading ${pct(s0.actionSpaceAccuracy)} % (about 50 % if the listed directions are ignored), compass turns ${pct(s0.compassAccuracy)} %${s0.nextActionAbsolute === undefined ? "" : `, worked next action at turns under the absolute / relative action space ${pct(s0.nextActionAbsolute)} / ${pct(s0.nextActionRelative)} %`} (greedy, ${s0.probes} probes each). ${parse}`);
  if (t.env === "general-points") {
    for (const n of s.noSft.filter((x) => x.seed === t.seed))
      lines.push(
        `PPO from the stage-0 model without SFT (${n.updates} updates, ${fmtFlops(n.flops)}): mean step reward ${n.meanStepReward.toFixed(2)}, ID success ${pm(n.start.idSuccess, n.start.idStdErr)} % before and ${pm(n.final.idSuccess, n.final.idStdErr)} % after${typeof n.start.idRollTempSuccess === "number" && typeof n.final.idRollTempSuccess === "number" ? ` (at the rollout temperature ${pm(n.start.idRollTempSuccess, n.start.idRollTempStdErr)} % and ${pm(n.final.idRollTempSuccess, n.final.idRollTempStdErr)} %)` : ""}, on ${n.episodes} episodes.`,
      );
    for (const w of s.sweep) lines.push(`verify_iter ${w.verifyIter}: OOD success ${pm(w.row.oodSuccess, w.row.oodStdErr)} % after ${fmtFlops(w.flops)}.`);
  }
  lines.push(...computeCurveLines(t));
  if (t.env === "general-points") lines.push(...sftCurveLines(t, s));
  // The claims pool every seed of a task: their table follows the task's last seed only.
  const seeds = s.tasks.filter((x) => x.env === t.env);
  if (seeds[seeds.length - 1] !== t) return lines;
  const mine = { ...verdicts, claims: verdicts.claims.filter((c) => c.id.startsWith(claimPrefix(t))) };
  if (mine.claims.length) {
    if (seeds.length > 1) lines.push("", `Claims, judged on seeds ${seeds.map((x) => x.seed).join(", ")} together:`);
    lines.push("", verdictTableMarkdown(mine));
  }
  return lines;
}

/**
 * The SFT curve as a table (issue 24: ID and OOD success along SFT steps, where OOD tends to peak early): step 0 is the
 * stage-0 model as the no-SFT arm measured it (ID only, at the evaluation temperature), then the init's evaluations,
 * the init, and the SFT branch (its checkpoints and curve points). Empty without the init's curve.
 */
export function sftCurveLines(t: TaskSummary, s: SftVsRlSummary): string[] {
  const pts = sftCurve(t);
  if (pts.length === 0) return [];
  const { key: k, seKey: se } = t.metric;
  const out = ["", `Success along SFT steps from the stage-0 model (the SFT init ends at step ${t.init.steps}; later steps are the SFT branch, which continues on the same expert data):`, "", "| SFT steps | episodes per split | ID success % | OOD success % | OOD answers on the prompt's rule % | OOD answers on the training rule % |", "|---|---|---|---|---|---|"];
  const n0 = s.noSft.find((n) => n.seed === t.seed);
  if (n0 && typeof n0.start.idSuccess === "number") out.push(`| 0 | ${n0.episodes} (ID only) | ${pm(n0.start.idSuccess, n0.start.idStdErr)} | not evaluated | | |`);
  for (const p of pts) out.push(`| ${p.step} | ${p.episodes} | ${pm(p.row[`id${k}`], p.row[`id${se}`])} | ${pm(p.row[`ood${k}`], p.row[`ood${se}`])} | ${pct(p.row.oodPromptRule)} | ${pct(p.row[t.trainingRuleKey])} |`);
  return out;
}

/**
 * Both branches' checkpoints along their own FLOPs (issue 24: the paper's Figs. 5-6 as a table, each branch counted
 * from 0 at the SFT init), with the KL to the init on ID prompts beside the OOD change where the run measured it at
 * the PPO rollout temperature (`idKLRoll`; runs before it have no KL column here, report.html shows their saturated
 * Monte Carlo term). Empty when a branch has no checkpoints.
 */
export function computeCurveLines(t: TaskSummary): string[] {
  if (t.ppo.points.length === 0 || t.sft.points.length === 0) return [];
  const { key: k, seKey: se, name } = t.metric;
  const rows = [...t.ppo.points, ...t.sft.points].map((p) => p.row);
  const klT = rows.find((r) => typeof r.idKLTemperature === "number")?.idKLTemperature;
  const base = t.init.row;
  const kl = (p: EvalPoint) => (p.step === 0 ? "0" : typeof p.row.idKLRoll === "number" ? p.row.idKLRoll.toFixed(3) : "");
  const klHead = klT === undefined ? "" : ` KL to the init on ID prompts, answers sampled at T ${klT} (nats) |`;
  const out = [
    "",
    `${cap(name)} along each branch's FLOPs (counted from 0 at the SFT init; the paper's Figs. 5-6)${klT === undefined ? "" : ", and how far each branch moved from the init on ID prompts"}:`,
    "",
    `| branch | PPO update / SFT step | FLOPs | ID % | OOD % | OOD Δ vs init |${klHead}`,
    `|---|---|---|---|---|---|${klT === undefined ? "" : "---|"}`,
  ];
  const row = (branch: string, p: EvalPoint) =>
    `| ${branch} | ${p.step} | ${p.flops.toExponential(2)} | ${pm(p.row[`id${k}`], p.row[`id${se}`])} | ${pm(p.row[`ood${k}`], p.row[`ood${se}`])} | ${signed(p.row[`ood${k}`] - base[`ood${k}`])} |${klT === undefined ? "" : ` ${kl(p)} |`}`;
  for (const p of t.ppo.points) out.push(row("PPO", p));
  for (const p of t.sft.points) out.push(row("SFT", p));
  return out;
}

/** FLOPs of the SFT branch's last evaluated checkpoint. */
export const finalFlops = (t: TaskSummary): number => t.sft.points[t.sft.points.length - 1]?.flops ?? t.sft.flops;

/** results.md: every task's block, then model, machine and wall time, and what was not run. */
export function resultsMarkdown(s: SftVsRlSummary, verdicts: VerdictsFile, o: { preset: string; machine: string }): string {
  const lines: string[] = [];
  for (const t of s.tasks) {
    if (lines.length) lines.push("");
    lines.push(...taskLines(t, s, verdicts, o.preset));
  }
  const m = s.model;
  const arms = Object.entries(s.armWallSeconds ?? {}).sort((a, b) => Number(b[0] === "stage0") - Number(a[0] === "stage0"));
  const perArm = arms.length ? `; per arm, in minutes: ${arms.map(([a, w]) => `${a} ${(w / 60).toFixed(1)}`).join(", ")}` : "";
  const wall = s.wallSeconds === undefined ? "" : ` Wall time ${(s.wallSeconds / 60).toFixed(1)} min (every arm, over every invocation; stage-0 training ran at ${Math.round(s.stage0.tokensPerSec)} tokens/s${perArm}).`;
  lines.push("", `Model: ${s.params.toLocaleString("en-US")} parameters (d ${m.dModel}, ${m.nLayers} layers, context ${m.contextLength}, phrase-byte vocabulary ${m.vocabSize}). Machine: ${o.machine}.${wall}`);
  const has = (e: string) => s.envs.some((x) => x === e);
  const missing = [has("general-points") ? "" : "GeneralPoints-language", has("navigation") ? "" : "navigation (V-IRL-L analogue)", has("general-points-vl") ? "" : "GP-VL", "V-IRL-VL"].filter(Boolean);
  lines.push(`Not run: ${missing.join(", ")}; see the README.`);
  return lines.join("\n") + "\n";
}
