/**
 * The GP-VL claims beyond the rule splits ("SFT Memorizes, RL Generalizes", arXiv 2501.17161): visual OOD (§5.2,
 * Fig. 7: the cards in red instead of black suits, ID rule) and card recognition on visual OOD (§5.3, Fig. 8: the
 * share of first answers whose "cards" list names the shown hand). Pure functions of the summary.
 */
import { defineClaim, gate, type ClaimResult, type ClaimSpec } from "../../train/claims.js";
import { GATE, judgeChange, keepsOrRaisesRule, lowersRule, meanOf, parseGate, pooledChange, raisesRule, ROWS } from "./claim-rules.js";
import type { TaskSummary } from "./summary.js";
import { PAPER_GP_VL } from "./tasks.js";

const V = PAPER_GP_VL.visual;
const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
const budget = "the PPO branch's updates; the SFT branch at the SFT steps whose FLOPs match the PPO branch's last checkpoint (each branch's FLOPs counted alone)";
const noise = "max(2 SE, seed spread of the SFT init)";

export const GP_VL_VISUAL_CLAIMS = {
  visRl: defineClaim({
    id: "vl-vis-rl",
    paper: "PPO keeps or raises visual-OOD success (GP-VL, red suits; the paper reports a gain)",
    paperValue: `${signed(V.rl - V.init)} points (${V.init} -> ${V.rl} %)`,
    metric: "visual-OOD success after the PPO branch minus the SFT init's, points",
    arms: ["vl-sft-init", "vl-ppo"],
    budget,
    rule: `a gain beyond ${noise}: reproduced; a drop beyond it: opposite; within it: partly if the PPO branch raised ID success beyond its noise, else not reproduced`,
  }),
  visSft: defineClaim({
    id: "vl-vis-sft",
    paper: "More SFT lowers visual-OOD success (GP-VL, red suits)",
    paperValue: `${signed(V.sft - V.init)} points (${V.init} -> ${V.sft} %)`,
    metric: "visual-OOD success after the SFT branch minus the SFT init's, points",
    arms: ["vl-sft-init", "vl-sft"],
    budget,
    rule: `a drop beyond ${noise} of at least a quarter of the init's visual-OOD success: reproduced; a smaller drop beyond the noise: partly; a rise beyond it: opposite; otherwise not reproduced`,
  }),
  recogRl: defineClaim({
    id: "vl-recognition-rl",
    paper: "PPO raises card recognition on visual OOD (GP-VL, §5.3)",
    paperValue: "Fig. 8: recognition rises with RL compute",
    metric: "visual-OOD card recognition (first answers naming the shown cards) after the PPO branch minus the SFT init's, points",
    arms: ["vl-sft-init", "vl-ppo"],
    budget,
    rule: `a gain beyond ${noise}: reproduced; a drop beyond it: opposite; otherwise not reproduced`,
  }),
  recogSft: defineClaim({
    id: "vl-recognition-sft",
    paper: "More SFT lowers card recognition on visual OOD (GP-VL, §5.3)",
    paperValue: "Fig. 8: recognition falls with SFT compute",
    metric: "visual-OOD card recognition after the SFT branch minus the SFT init's, points",
    arms: ["vl-sft-init", "vl-sft"],
    budget,
    rule: `a drop beyond ${noise} of at least a quarter of the init's visual-OOD recognition: reproduced; a smaller drop beyond the noise: partly; a rise beyond it: opposite; otherwise not reproduced`,
  }),
} satisfies Record<string, ClaimSpec>;

/** The visual-OOD and recognition claims of the GP-VL runs. */
export function vlClaims(runs: readonly TaskSummary[]): ClaimResult[] {
  const { init, ppo, sft } = ROWS;
  const C = GP_VL_VISUAL_CLAIMS;
  const visRl = pooledChange(runs, "visSuccess", "visStdErr", init, ppo, init);
  const visSft = pooledChange(runs, "visSuccess", "visStdErr", init, sft, init);
  const recRl = pooledChange(runs, "visRecognition", "visRecognitionStdErr", init, ppo, init);
  const recSft = pooledChange(runs, "visRecognition", "visRecognitionStdErr", init, sft, init);
  const idRl = pooledChange(runs, "idSuccess", "idStdErr", init, ppo, init);
  const initVis = 100 * meanOf(runs, (t) => t.init.row.visSuccess);
  const initRec = 100 * meanOf(runs, (t) => t.init.row.visRecognition);
  const pg = parseGate(runs);
  const visGate = gate("SFT init: visual-OOD success", initVis / 100, ">=", GATE.initOod);
  const recGate = gate("SFT init: visual-OOD card recognition", initRec / 100, ">=", GATE.initRecognition);
  return [
    judgeChange(C.visRl, visRl, [visGate, pg], () => keepsOrRaisesRule(visRl, idRl, "visual-OOD success, PPO branch minus SFT init")),
    judgeChange(C.visSft, visSft, [visGate, pg], () => lowersRule(visSft, initVis, `visual-OOD success, SFT branch minus SFT init (init ${initVis.toFixed(1)} %)`)),
    judgeChange(C.recogRl, recRl, [pg], () => raisesRule(recRl, "visual-OOD card recognition, PPO branch minus SFT init")),
    judgeChange(C.recogSft, recSft, [recGate, pg], () => lowersRule(recSft, initRec, `visual-OOD card recognition, SFT branch minus SFT init (init ${initRec.toFixed(1)} %)`)),
  ];
}
