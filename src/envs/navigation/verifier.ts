/**
 * Navigation verifier ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, App. B.3; released `step_rewards_virl`):
 * +1 when the answer's "action" equals the expert action exactly; otherwise −1.5 when the answer's
 * "current observation" disagrees with the truth about being at an intersection (one mentions `intersection`, the
 * other does not), else −1. Fields are read JSON-first, then with the regex `"key": "(.*?)"`.
 * Deviation, knowingly: the released code compares with the landmark text only (which never says "intersection"),
 * so its check fires whenever the model mentions an intersection; we compare with the full observation.
 */
import { MAX_ANSWER_CHARS, matchQuotedField } from "../general-points/parse.js";
import { NAV_OUTPUT_FORMAT } from "./prompt.js";

export const NAV_REWARDS = { CORRECT_ACTION: 1, INCORRECT_ACTION: -1, STEP_LIMIT: -1, INCORRECT_OBS: -1.5 } as const;

/** Read a string field JSON-first, then by regex; "None" when absent (released `re_match`). */
export function readField(raw: string, key: string): string {
  const text = typeof raw === "string" ? raw.slice(0, MAX_ANSWER_CHARS) : "";
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v) && key in v) {
      const x = (v as Record<string, unknown>)[key];
      return typeof x === "string" ? x : "None";
    }
  } catch {
    /* not JSON: regex fallback */
  }
  return matchQuotedField(text, key) ?? "None";
}

export type NavVerifyResult = { reward: number; feedback: string; action: string; observation: string; correct: boolean };

/** Grade one raw answer against the expert action and the true observation text. Never throws. */
export function verifyNavigation(answer: string, gtAction: string, gtObservation: string): NavVerifyResult {
  const action = readField(answer, "action");
  const observation = readField(answer, "current observation");
  if (action === gtAction) return { reward: NAV_REWARDS.CORRECT_ACTION, feedback: "Correct action", action, observation, correct: true };
  const saysInter = observation.includes("intersection");
  const isInter = gtObservation.includes("intersection");
  if (saysInter && !isInter) {
    return { reward: NAV_REWARDS.INCORRECT_OBS, feedback: `you are not at an intersection; correct this observation and answer again in the same format:\n${NAV_OUTPUT_FORMAT}`, action, observation, correct: false };
  }
  if (!saysInter && isInter) {
    return { reward: NAV_REWARDS.INCORRECT_OBS, feedback: `you are at an intersection; correct this observation and answer again in the same format:\n${NAV_OUTPUT_FORMAT}`, action, observation, correct: false };
  }
  return { reward: NAV_REWARDS.INCORRECT_ACTION, feedback: `your action is incorrect; choose another action and answer again in the same format:\n${NAV_OUTPUT_FORMAT}`, action, observation, correct: false };
}
