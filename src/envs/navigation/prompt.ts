/**
 * Navigation prompts, observation history and expert answers ("SFT Memorizes, RL Generalizes", arXiv 2501.17161,
 * §4.2, App. B.3). The sections follow the released `Q_VIRL_L` / `Q_VIRL_VL` layout ([Task Description],
 * [Instruction], [Action space], [Observations and actions sequence], [Output] with the keys
 * "current observation", "current instruction", "action"); the wording is ours. History lines are
 * `O_i: {observation}` / `A_i: {action}`, the current point ending with an empty `A_k: `.
 */
import { ABSOLUTE_DIRECTIONS, INTERSECTION_OBS, RELATIVE_DIRECTIONS, type ActionSpace } from "./route.js";

/** Action-space description; the action strings are exactly those the verifier accepts. */
export function actionSpaceText(space: ActionSpace): string {
  const dirs = (space === "absolute" ? ABSOLUTE_DIRECTIONS : RELATIVE_DIRECTIONS).map((d) => `'${d}'`).join(", ");
  return [
    `"forward()": move forward one step along the road`,
    `"turn_direction(x)": turn to face direction x, where x is one of [${dirs}]`,
    `"stop()": the navigation is finished`,
  ].join("\n");
}

/** The output schema repeated in feedback messages. */
export const NAV_OUTPUT_FORMAT = [
  "[Output]",
  "{",
  '  "current observation": the latest observation,',
  '  "current instruction": the instruction sentence to execute now,',
  '  "action": one action from the action space,',
  "}",
].join("\n");

/** `O_1: ...\nA_1: ...\n...O_k: ...\nA_k: \n`; in the vision variant the current observation is the image. */
export function observationHistory(observations: readonly string[], actions: readonly string[], vision: boolean): string {
  let s = "";
  for (let i = 0; i < actions.length; i++) s += `O_${i + 1}: ${observations[i]}\nA_${i + 1}: ${actions[i]}\n`;
  if (observations.length > actions.length) {
    const k = observations.length;
    const cur = observations[k - 1];
    const shown = vision ? `You observe an image of 4 views; ${cur.includes(INTERSECTION_OBS) ? INTERSECTION_OBS : ""}` : cur;
    s += `O_${k}: ${shown}\nA_${k}: \n`;
  }
  return s;
}

/** Options of `navigationPrompt`. */
export type NavPromptOptions = { vision?: boolean };

/** The prompt at one rail point. */
export function navigationPrompt(instruction: string, space: ActionSpace, history: string, opts: NavPromptOptions = {}): string {
  const { vision = false } = opts;
  const lines = [
    "[Task Description]",
    vision
      ? "You are an expert navigator. You follow a sequence of instructions while looking at street views around you. You also see your past observations and actions as text."
      : "You are an expert navigator. You follow a sequence of instructions. You also see your past observations and actions as text.",
    "First find the instruction sentence to execute next, then choose the action for the current observation.",
    "",
    "[Instruction]",
    instruction.trimEnd(),
    "",
  ];
  if (vision) {
    lines.push("[Observation format]", "The image is a 2x2 grid of street views with headings:", "[front, right", " back, left]", "Check whether any landmark named in the instruction is visible.", "");
  }
  lines.push("[Action space]", actionSpaceText(space), "", "[Observations and actions sequence]", history.replace(/\n$/, ""), "", NAV_OUTPUT_FORMAT);
  return lines.join("\n");
}

/** The expert's answer (valid JSON with the three keys). */
export function navigationExpertAnswer(observation: string, instruction: string, action: string): string {
  return JSON.stringify({ "current observation": observation, "current instruction": instruction, action }, null, 2);
}
