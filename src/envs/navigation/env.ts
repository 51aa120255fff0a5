/**
 * The navigation environment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.2, App. B.3; released
 * `NavigationEnvironment`): at each rail point the model gets the instruction, the action space and the
 * observation/action history and must give the expert action. A correct action moves to the next point (a fresh
 * prompt, the attempt counter back at `verifyIter` = 2); a wrong one gets feedback; one more call after `verifyIter`
 * wrong answers at a point returns −1 and ends the route as a failure. `stop()` at the destination succeeds.
 *
 * Splits: `id` (metro city, absolute actions), `ood` (metro city, relative actions: the rule variant),
 * `visual-ood` (harbor city, absolute actions, vision).
 */
import { Rng } from "../../util/rng.js";
import type { Env, Observation, StepResult } from "../episode.js";
import { buildCity, type City, type CityStyle } from "./city.js";
import { navigationExpertAnswer, navigationPrompt, observationHistory } from "./prompt.js";
import { renderViews } from "./render.js";
import { ABSOLUTE_DIRECTIONS, generateRoute, instructionText, INTERSECTION_OBS, RELATIVE_DIRECTIONS, type ActionSpace, type RailPoint, type Route, type RouteOptions } from "./route.js";
import { NAV_REWARDS, verifyNavigation } from "./verifier.js";

export type NavigationSplit = "id" | "ood" | "visual-ood";
export const NAV_SPLITS: readonly NavigationSplit[] = ["id", "ood", "visual-ood"];

/** City, action space and modality of a split. */
export function navSplitSettings(split: NavigationSplit, vision: boolean): { style: CityStyle; actionSpace: ActionSpace; vision: boolean } {
  if (split === "visual-ood") return { style: "harbor", actionSpace: "absolute", vision: true };
  return { style: "metro", actionSpace: split === "id" ? "absolute" : "relative", vision };
}

/** Fixed city seeds: one "metro" city (the training city) and one "harbor" city. */
export const CITY_SEEDS: Record<CityStyle, number> = { metro: 1, harbor: 2 };

/** Options of `NavigationEnv`. */
export type NavigationOptions = {
  split?: NavigationSplit;
  /** Vision variant for `id`/`ood` (always on for `visual-ood`). */
  vision?: boolean;
  /** Graded attempts per point (paper: 2). */
  verifyIter?: number;
  /** Side of one street view in pixels. */
  viewSize?: number;
  route?: RouteOptions;
};

/** The observation text at a rail point: `{landmark}; {You observe an intersection | ""}`. */
export function pointObservation(p: RailPoint): string {
  return `${p.landmark}; ${p.intersection ? INTERSECTION_OBS : ""}`;
}

export class NavigationEnv implements Env {
  readonly name = "navigation";
  readonly split: NavigationSplit;
  readonly vision: boolean;
  readonly actionSpace: ActionSpace;
  readonly verifyIter: number;
  readonly city: City;
  private readonly viewSize: number;
  private readonly routeOpts: RouteOptions;
  private route: Route | null = null;
  private idx = 0;
  private remaining = 0;
  private actions: string[] = [];
  private observations: string[] = [];
  private finished = false;
  constructor(opts: NavigationOptions = {}) {
    const { split = "id", vision = false, verifyIter = 2, viewSize = 160, route = {} } = opts;
    if (!NAV_SPLITS.includes(split)) throw new Error(`navigation: split must be one of ${NAV_SPLITS.join(", ")}, got ${JSON.stringify(split)}`);
    if (!Number.isInteger(verifyIter) || verifyIter < 1) throw new Error(`navigation: verifyIter must be an integer >= 1, got ${verifyIter}`);
    const s = navSplitSettings(split, vision);
    this.split = split;
    this.vision = s.vision;
    this.actionSpace = s.actionSpace;
    this.verifyIter = verifyIter;
    this.viewSize = viewSize;
    this.routeOpts = route;
    this.city = buildCity(s.style, CITY_SEEDS[s.style]);
  }
  get currentRoute(): Route {
    if (!this.route) throw new Error("navigation: call reset(seed) before using the environment");
    return this.route;
  }
  /** The current rail point index. */
  get pointIndex(): number {
    return this.idx;
  }
  /** Expert action at the current point in this split's action space. */
  expertAction(): string {
    const p = this.currentRoute.rail[this.idx];
    return this.actionSpace === "absolute" ? p.absoluteAction : p.relativeAction;
  }
  private observe(): Observation {
    const r = this.currentRoute;
    const p = r.rail[this.idx];
    const text = navigationPrompt(instructionText(r.sentences), this.actionSpace, observationHistory(this.observations, this.actions, this.vision), { vision: this.vision });
    if (!this.vision) return { text, kind: "prompt" };
    return { text, image: renderViews(this.city, p.x, p.y, p.heading, p.intersection, { viewSize: this.viewSize }).toPNG(), kind: "prompt" };
  }
  reset(seed: number): Observation {
    this.route = generateRoute(this.city, Rng.stream(seed, `navigation/${this.split}`), this.routeOpts);
    this.idx = 0;
    this.remaining = this.verifyIter;
    this.actions = [];
    this.observations = [pointObservation(this.route.rail[0])];
    this.finished = false;
    return this.observe();
  }
  step(answerText: string): StepResult {
    const r = this.currentRoute;
    this.remaining--;
    if (this.remaining < 0 || this.finished) {
      const feedback = "Exceed maximum verify steps";
      return { observation: { text: `You failed this trial because ${feedback}`, kind: "feedback" }, reward: NAV_REWARDS.STEP_LIMIT, done: true, info: { feedback, correct: false, truncated: true, success: this.finished, attemptsLeft: 0, point: this.idx } };
    }
    const p = r.rail[this.idx];
    const gt = this.expertAction();
    const v = verifyNavigation(answerText, gt, pointObservation(p));
    const base = { feedback: v.feedback, correct: v.correct, truncated: false, point: this.idx, gtAction: gt, action: v.action };
    if (v.correct) {
      if (gt === "stop()") {
        this.finished = true;
        return { observation: { text: "", kind: "feedback" }, reward: v.reward, done: true, info: { ...base, success: true, attemptsLeft: 0 } };
      }
      this.actions.push(gt);
      this.idx++;
      this.remaining = this.verifyIter;
      this.observations.push(pointObservation(r.rail[this.idx]));
      return { observation: this.observe(), reward: v.reward, done: false, info: { ...base, success: false, attemptsLeft: this.remaining } };
    }
    return { observation: { text: `You failed this trial because ${v.feedback}`, kind: "feedback" }, reward: v.reward, done: false, info: { ...base, success: false, attemptsLeft: this.remaining } };
  }
  expertAnswer(): string {
    const r = this.currentRoute;
    const p = r.rail[this.idx];
    return navigationExpertAnswer(pointObservation(p), r.sentences[p.instructionIndex - 1], this.expertAction());
  }
  /** A uniformly random action of the action space (10 absolute or 6 relative), with a random intersection claim. */
  randomAnswer(rng: Rng): string {
    const dirs: readonly string[] = this.actionSpace === "absolute" ? ABSOLUTE_DIRECTIONS : RELATIVE_DIRECTIONS;
    const actions = ["forward()", "stop()", ...dirs.map((d) => `turn_direction(${d})`)];
    const obs = rng.next() < 0.5 ? `No landmarks nearby; ${INTERSECTION_OBS}` : "No landmarks nearby; ";
    return navigationExpertAnswer(obs, "", rng.pick(actions));
  }
}
