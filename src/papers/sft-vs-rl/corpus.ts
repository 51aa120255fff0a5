/**
 * Stage 0 of our reproduction of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161): a generic synthetic corpus for
 * a tiny "foundation model". The paper starts from Llama-3.2-Vision-11B, which already knows arithmetic, card values
 * and JSON; it can therefore read a new rule stated in the prompt (§5.1: the OOD rule J/Q/K = 11/12/13). A tiny LM
 * trained from scratch has none of that, so stage 0 teaches the skills (spec §1.7 item 4, §1.8) without the task:
 *
 * 1. Arithmetic: `Value: 12*2=24`, one to four facts per document, mostly two operands over 1..13 (integer
 *    results only).
 * 2. Rule application: a rule sentence in the task prompt's own words with *random* face-card values (`'J', 'Q', and
 *    'K' count as '7'` or `... count as '4', '12', and '9' respectively`), 2-5 cards (most with a J, Q or K) and
 *    their numbers (`number: [...]`). The ID rule (10) and the OOD rule (11/12/13) are two members of this
 *    family, neither favoured, so the OOD prompt's rule is familiar language.
 * 3. Make-24 worked solutions in plain text (not the task's JSON): a random rule, 3 cards whose numbers reach 24,
 *    the numbers, and the solver's first solution in quotes (`formula: "(9-7)*12=24"`; the lead varies: `Make 24: `,
 *    `Solution: `).
 *
 * Record shapes vary (rule before or after the cards, distractor lines, the hand restated after filler lines at a
 * varying distance), so no prompt shape or length is fixed; the numbers always follow a card list directly, as the
 * task's "number" field follows its "cards" field. Sized by pilots (issue 24: a 0.46 M model learns all three skills
 * in 2,000 steps).
 *
 * What stage 0 never contains: the GeneralPoints task prompt or any of its template lines, the JSON answer, or chat
 * turns (tested).
 *
 * When the experiment also trains navigation (`envs` includes "navigation"), a share of the documents teaches the
 * navigation skills (spec §1.7 item 8), again without the task (no task prompt, no observation/action history, no
 * JSON answer):
 *
 * 4. Compass: `Compass: facing north, turn slightly right -> facing northeast.` — headings after a relative turn
 *    (left/right = 90°, slightly = 45°, paper §4.2), and the reverse question (which turn leads from one heading to
 *    another).
 * 5. Action-space binding: an action-space line in the prompt's wording listing *some* directions, an instruction
 *    sentence in the task's wording (`Turn left to face east.`, which names both the relative and the absolute
 *    direction) and the move `turn_direction(x)` using the one the list allows (or `forward()` / `stop()` for the
 *    moving sentences). The absolute list (ID) and the relative list (OOD) are two members of a family of lists,
 *    neither favoured — as the GP rules above.
 * 6. Street notes: a walk described in prose (`Walk: start facing west. turn right, now facing north. 2 blocks.
 *    corner: Astor Hotel is on your left front. ...`) with landmark sentences, turns and headings in a format
 *    unlike the task's numbered instructions and O/A history.
 *
 * Documents are separated by a blank line. Everything is generated from a host `Rng`.
 */
import { Rng } from "../../util/rng.js";
import { ABSOLUTE_DIRECTIONS, buildCity, CITY_SEEDS, evaluateFormula, formatFraction, generateRoute, GP_REWARDS, isSolvable, pointObservation, RELATIVE_DIRECTIONS, scoreFormula, solutionsFor, type City, type Route } from "../../envs/index.js";

const CARD = ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"];
const OPS = ["+", "-", "*", "/"];

/** Insert one of the solver's bracket patterns into `a op b op c op d` (or a shorter chain). */
export function randomExpression(rng: Rng, nums: readonly number[]): string {
  const ops = nums.slice(1).map(() => rng.pick(OPS));
  const parts: string[] = [];
  nums.forEach((x, i) => {
    if (i > 0) parts.push(ops[i - 1]);
    parts.push(String(x));
  });
  if (nums.length >= 3 && rng.next() < 0.6) {
    // Bracket a contiguous run of 2..n-1 numbers (indices into `parts` are 2*i).
    const n = nums.length;
    const len = 2 + rng.int(n - 2);
    const start = rng.int(n - len + 1);
    parts.splice(2 * (start + len) - 1, 0, ")");
    parts.splice(2 * start, 0, "(");
  }
  return parts.join("");
}

/** `expr=value` when the value is an integer, else null. */
export function withValue(expr: string): string | null {
  const r = evaluateFormula(expr);
  if (!r.ok) return null;
  const v = formatFraction(r.value);
  return /^-?\d+$/.test(v) ? `${expr}=${v}` : null;
}

/** A rule: values of J, Q, K and its sentence in the prompt's wording. */
export type CardRule = { face: [number, number, number]; sentence: string };

/** The task prompt's rule sentence for face values: one value for all three, or three values "respectively". */
export function ruleSentenceFor(face: readonly [number, number, number]): string {
  return face[0] === face[1] && face[1] === face[2] ? `'J', 'Q', and 'K' count as '${face[0]}'` : `'J', 'Q', and 'K' count as '${face[0]}', '${face[1]}', and '${face[2]}' respectively`;
}

/** The ID rule (J, Q, K = 10) and the OOD rule (11, 12, 13) of the task, as two members of the family. */
export const TASK_RULES: Record<"id" | "ood", CardRule> = {
  id: { face: [10, 10, 10], sentence: ruleSentenceFor([10, 10, 10]) },
  ood: { face: [11, 12, 13], sentence: ruleSentenceFor([11, 12, 13]) },
};

/** A random rule: a third of the time one value for all three face cards, else three values (each uniform in 1..13). */
export function randomRule(rng: Rng): CardRule {
  if (rng.next() < 1 / 3) {
    const v = 1 + rng.int(13);
    return { face: [v, v, v], sentence: ruleSentenceFor([v, v, v]) };
  }
  const f: [number, number, number] = [1 + rng.int(13), 1 + rng.int(13), 1 + rng.int(13)];
  return { face: f, sentence: ruleSentenceFor(f) };
}

export function cardNumber(rank: number, rule: CardRule | null): number {
  if (rank <= 10 || !rule) return rank;
  return rule.face[rank - 11];
}

const pyList = (xs: readonly (string | number)[]) => "[" + xs.map((x) => (typeof x === "number" ? String(x) : `'${x}'`)).join(", ") + "]";

/** `n` ranks; with `face`, at least one J/Q/K (as the task's OOD sampler deals), else uniform in 1..13. */
function dealRanks(rng: Rng, n: number, face: boolean): number[] {
  const ranks = Array.from({ length: face ? n - 1 : n }, () => 1 + rng.int(13));
  if (face) ranks.splice(rng.int(n), 0, 11 + rng.int(3));
  return ranks;
}

/** One fact `Value: a op b=r` over 1..13 (integer results only); one in five has three operands. */
function arithmeticFact(rng: Rng): string {
  for (;;) {
    const n = rng.next() < 0.8 ? 2 : 3;
    const nums = Array.from({ length: n }, () => 1 + rng.int(13));
    const s = withValue(randomExpression(rng, nums));
    if (s) return `Value: ${s}`;
  }
}

/** One to four arithmetic facts, one per line. */
function arithmeticDoc(rng: Rng): string {
  return Array.from({ length: 1 + rng.int(4) }, () => arithmeticFact(rng)).join("\n");
}

/** Lines unrelated to the answer, so no document shape is fixed (distractor text). */
function distractor(rng: Rng): string {
  const u = rng.next();
  if (u < 0.4) return arithmeticFact(rng);
  if (u < 0.7) return "Each card must be used once.";
  const d = 2 + rng.int(9);
  return `Note: 'A' counts as 1 and '${d}' counts as ${d}.`
}

/**
 * The lines of a card record: the rule sentence (with random values, or none), the cards, and optional distractor
 * lines, in a varied order (the rule before or after the cards). The numbers always follow a card list directly (as
 * in the task's answer, where "number" follows "cards"): when anything stands between, the record restates the hand
 * (`cards: [...]`, the answer's key word), and half the other records do so after 0-2 filler lines and maybe the rule again, so copying a
 * list or a rule from further back, at a distance that varies, is practised too (the task's answer copies its cards
 * from the prompt).
 */
function recordHead(rng: Rng, rule: CardRule | null, ranks: readonly number[]): string[] {
  const cards = pyList(ranks.map((r) => CARD[r - 1]));
  const lines = [`Cards: ${cards}`];
  if (rule) lines.splice(rng.next() < 0.75 ? 0 : 1, 0, `Rule: ${rule.sentence}.`);
  if (rng.next() < 0.3) lines.splice(rng.int(lines.length + 1), 0, distractor(rng));
  const echo = !lines[lines.length - 1].startsWith("Cards: ") || rng.next() < 0.5;
  if (echo) {
    for (let k = rng.int(3); k > 0; k--) lines.push(distractor(rng));
    if (rule && rng.next() < 0.5) lines.push(`Rule: ${rule.sentence}.`);
    lines.push(`cards: ${cards}`);
  }
  return lines;
}

/**
 * How a worked solution line starts: varied, as text in the wild is, so the solutions are not tied to one key (the
 * task's JSON answer has its own, `"formula": "`, which stage 0 never writes). Probes use the first.
 */
export const SOLUTION_LEADS = ["formula: ", "Make 24: ", "Solution: "] as const;

/** Rule application: a rule with random face values, 2-5 cards (most with a face card), and their numbers. */
function ruleDoc(rng: Rng): string {
  const rule = rng.next() < 0.9 ? randomRule(rng) : null;
  const ranks = dealRanks(rng, 2 + rng.int(4), rule !== null && rng.next() < 0.8);
  return [...recordHead(rng, rule, ranks), `number: ${pyList(ranks.map((r) => cardNumber(r, rule)))}`].join("\n");
}

/**
 * A make-24 worked solution in plain text under a random rule: 3 cards (at least one face card 70 % of the time) whose
 * numbers reach 24, their numbers, and the solver's first solution. Unsolvable deals are redrawn, as the task does.
 * For a 4-card task (`cards` 4) half the hands hold 3 cards and half 4, so the hand size varies too.
 */
function make24Doc(rng: Rng, cards: 3 | 4): string {
  for (;;) {
    const rule = randomRule(rng);
    const n = cards === 4 && rng.next() < 0.5 ? 4 : 3;
    const ranks = dealRanks(rng, n, rng.next() < 0.7);
    const nums = ranks.map((r) => cardNumber(r, rule));
    const sols = solutionsFor(nums, 24);
    if (sols.length === 0) continue;
    return [...recordHead(rng, rule, ranks), `number: ${pyList(nums)}`, `${rng.pick(SOLUTION_LEADS)}"${sols[0]}=24"`].join("\n");
  }
}

const REL_DEGREES: Record<(typeof RELATIVE_DIRECTIONS)[number], number> = { left: -90, right: 90, "slightly left": -45, "slightly right": 45 };
const compass8 = (i: number) => ABSOLUTE_DIRECTIONS[((i % 8) + 8) % 8];

/** The heading after a relative turn from one of the 8 compass headings (left/right 90°, slightly 45°). */
export function turnFrom(heading: string, turn: (typeof RELATIVE_DIRECTIONS)[number]): string {
  const i = (ABSOLUTE_DIRECTIONS as readonly string[]).indexOf(heading);
  if (i < 0) throw new Error(`turnFrom: heading must be one of ${ABSOLUTE_DIRECTIONS.join(", ")}, got ${JSON.stringify(heading)}`);
  return compass8(i + REL_DEGREES[turn] / 45);
}

/** Landmark name words of the training city (first word and kind), as the tokenizer knows them. */
let landmarkWords: { first: string[]; kind: string[] } | null = null;
function landmarkParts(): { first: string[]; kind: string[] } {
  if (!landmarkWords) {
    const first = new Set<string>();
    const kind = new Set<string>();
    for (const l of buildCity("metro", CITY_SEEDS.metro).landmarkAt) {
      if (!l) continue;
      const sp = l.name.indexOf(" ");
      first.add(l.name.slice(0, sp));
      kind.add(l.name.slice(sp + 1));
    }
    landmarkWords = { first: [...first].sort(), kind: [...kind].sort() };
  }
  return landmarkWords;
}
/** A random landmark phrase `{First} {Kind} is on your {left|right} {front|behind}` (random name combinations). */
function randomLandmarkPhrase(rng: Rng): string {
  const w = landmarkParts();
  return `${rng.pick(w.first)} ${rng.pick(w.kind)} is on your ${rng.pick(["left", "right"])} ${rng.pick(["front", "behind"])}`;
}

const REL = RELATIVE_DIRECTIONS as readonly (typeof RELATIVE_DIRECTIONS)[number][];

function compassDoc(rng: Rng): string {
  const lines: string[] = [];
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const from = rng.pick(ABSOLUTE_DIRECTIONS);
    const turn = rng.pick(REL);
    if (rng.next() < 0.6) lines.push(`Compass: facing ${from}, turn ${turn} -> facing ${turnFrom(from, turn)}.`);
    else lines.push(`Compass: from ${from} to ${turnFrom(from, turn)} is a turn ${turn}.`);
  }
  return lines.join("\n");
}

/** The action-space line in the prompt's wording for a list of directions. */
export function actionSpaceLine(dirs: readonly string[]): string {
  return `"turn_direction(x)": turn to face direction x, where x is one of [${dirs.map((d) => `'${d}'`).join(", ")}]`;
}

/**
 * A direction list for a binding document: the absolute list (the ID action space), the relative list (the OOD
 * one), or a random mix of both families holding exactly one of `abs`/`rel`, each with probability 1/3.
 */
function bindingList(rng: Rng, abs: string, rel: string): string[] {
  const u = rng.next();
  if (u < 1 / 3) return [...ABSOLUTE_DIRECTIONS];
  if (u < 2 / 3) return [...RELATIVE_DIRECTIONS];
  const keep = rng.next() < 0.5 ? abs : rel;
  const others = [...ABSOLUTE_DIRECTIONS, ...RELATIVE_DIRECTIONS].filter((d) => d !== abs && d !== rel && rng.next() < 0.4);
  return rng.shuffle([keep, ...others]);
}

function bindingDoc(rng: Rng): string {
  const lines: string[] = [];
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    if (u < 0.7) {
      const abs = rng.pick(ABSOLUTE_DIRECTIONS);
      const rel = rng.pick(REL);
      const dirs = bindingList(rng, abs, rel);
      lines.push(`Moves: ${actionSpaceLine(dirs)}`, `Order: ${rng.next() < 0.3 ? "First, turn" : "Turn"} ${rel} to face ${abs}.`, `Move: turn_direction(${dirs.includes(abs) ? abs : rel})`);
    } else if (u < 0.9) {
      const dirs = bindingList(rng, rng.pick(ABSOLUTE_DIRECTIONS), rng.pick(REL));
      const lm = rng.next() < 0.5 ? ` where ${randomLandmarkPhrase(rng)}.` : ".";
      lines.push(`Moves: ${actionSpaceLine(dirs)}`, `Order: Move forward until you reach next intersection${lm}`, "Move: forward()");
    } else {
      lines.push(`Order: Move forward until you reach destination where ${randomLandmarkPhrase(rng)}.`, "At the destination. Move: stop()");
    }
  }
  return lines.join("\n");
}

function walkDoc(rng: Rng): string {
  let heading = rng.pick(ABSOLUTE_DIRECTIONS) as string;
  const parts = [`Walk: start facing ${heading}.`];
  const legs = 1 + rng.int(3);
  for (let k = 0; k < legs; k++) {
    const turn = rng.pick(REL);
    heading = turnFrom(heading, turn);
    const blocks = 1 + rng.int(4);
    parts.push(`turn ${turn}, now facing ${heading}.`, `${blocks} block${blocks > 1 ? "s" : ""}.`);
    if (k < legs - 1) parts.push(rng.next() < 0.6 ? `corner: ${randomLandmarkPhrase(rng)}.` : "corner: No landmarks nearby.");
  }
  parts.push(`end: ${randomLandmarkPhrase(rng)}.`);
  return parts.join(" ");
}

let metroCity: City | null = null;
const trainingCity = (): City => (metroCity ??= buildCity("metro", CITY_SEEDS.metro));

/** The direction of a `turn_direction(x)` action, or null for `forward()` / `stop()`. */
const turnDir = (action: string): string | null => /^turn_direction\((.*)\)$/.exec(action)?.[1] ?? null;

/** A list mixing both families that holds exactly one of `abs`/`rel` (half each) and at least one direction of each family. */
function mixedList(rng: Rng, abs: string, rel: string): string[] {
  const keepAbs = rng.next() < 0.5;
  const others = ([...ABSOLUTE_DIRECTIONS, ...RELATIVE_DIRECTIONS] as string[]).filter((d) => d !== abs && d !== rel && rng.next() < 0.4);
  const otherFamily = (keepAbs ? RELATIVE_DIRECTIONS : ABSOLUTE_DIRECTIONS) as readonly string[];
  if (!others.some((d) => otherFamily.includes(d))) others.push(rng.pick(otherFamily.filter((d) => d !== abs && d !== rel)));
  return rng.shuffle([keepAbs ? abs : rel, ...others]);
}

/** Which action space a next-action document states: the absolute list, the relative list, or a random mix. */
export type DocActionSpace = "absolute" | "relative" | "mixed";

/**
 * A route's rail point as a plain worked "next action" record: the route's numbered instruction sentences and an
 * action-space line in the prompt's own words, the actions done so far and the current observation in a plain format
 * (not the task's `O_k`/`A_k` history), then the answer in plain lines (`observation: ...`, `instruction: ...`,
 * `action: ...`, the order of the task's JSON keys). The answer is the environment's oracle action in the stated
 * space: absolute list → the rail's absolute action, relative list → its relative action, a mixed list (directions
 * of both families holding exactly one of the point's two) → the listed one. So the same route and point has
 * different right answers under different action-space lines.
 */
export function nextActionRecord(rng: Rng, route: Route, point: number, space: DocActionSpace, opts: { answer?: boolean } = {}): { text: string; action: string } {
  const p = route.rail[point];
  const absDir = turnDir(p.absoluteAction);
  const relDir = turnDir(p.relativeAction);
  let dirs: string[];
  if (space === "absolute") dirs = [...ABSOLUTE_DIRECTIONS];
  else if (space === "relative") dirs = [...RELATIVE_DIRECTIONS];
  else dirs = mixedList(rng, absDir ?? rng.pick(ABSOLUTE_DIRECTIONS), relDir ?? rng.pick(REL));
  const spaceOf = (k: number): string => {
    const q = route.rail[k];
    const a = turnDir(q.absoluteAction);
    if (a === null) return q.absoluteAction;
    if (space === "absolute") return q.absoluteAction;
    if (space === "relative") return q.relativeAction;
    return dirs.includes(a) ? q.absoluteAction : q.relativeAction;
  };
  const action = absDir !== null && relDir !== null && space === "mixed" ? `turn_direction(${dirs.includes(absDir) ? absDir : relDir})` : spaceOf(point);
  const instr = route.sentences.map((s, i) => `${i + 1}. ${s}`).join("\n");
  const u = rng.next();
  const spaceLines = [u < 0.5 ? '"forward()": move forward one step along the road' : "", actionSpaceLine(dirs) + (rng.next() < 0.5 ? '\n"stop()": the navigation is finished' : "")].filter((l) => l).join("\n");
  const head = rng.next() < 0.6 ? [`Directions:\n${instr}`, `Moves:\n${spaceLines}`] : [`Moves:\n${spaceLines}`, `Directions:\n${instr}`];
  const lines = [...head];
  // Actions so far (the last few, in the stated space; none shown for mixed lists, whose earlier turns may be unlisted).
  if (point > 0 && space !== "mixed" && rng.next() < 0.7) {
    const from = Math.max(0, point - (1 + rng.int(6)));
    lines.push(`Done: ${Array.from({ length: point - from }, (_, i) => spaceOf(from + i)).join(", ")}`);
  }
  if (rng.next() < 0.2) lines.splice(rng.int(lines.length + 1), 0, rng.next() < 0.5 ? "Each action moves you one point along the route." : `Note: ${randomLandmarkPhrase(rng)}.`);
  lines.push(`Now: ${pointObservation(p)}`);
  const obs = pointObservation(p);
  const answer = [`observation: ${obs}`, `instruction: ${route.sentences[p.instructionIndex - 1]}`, `action: ${action}`];
  return { text: [...lines, ...(opts.answer === false ? [] : answer)].join("\n"), action };
}

/** A rail point to write about: a turn (start or intersection) 60 % of the time, else any point. */
function pickPoint(rng: Rng, route: Route): number {
  const turns = route.rail.map((q, i) => (turnDir(q.absoluteAction) ? i : -1)).filter((i) => i >= 0);
  return rng.next() < 0.6 ? rng.pick(turns) : rng.int(route.rail.length);
}

/** A random route of 1-3 legs in the training city (the environment's own generator and oracle). */
function docRoute(rng: Rng): Route {
  const legs = 1 + rng.int(3);
  return generateRoute(trainingCity(), rng, { minLegs: legs, maxLegs: legs });
}

/** A worked next-action document under an action space drawn from {absolute, relative, mixed}, a third each. */
function nextActionDoc(rng: Rng): string {
  const route = docRoute(rng);
  const space: DocActionSpace = rng.pick(["absolute", "relative", "mixed"] as const);
  return nextActionRecord(rng, route, pickPoint(rng, route), space).text;
}

/**
 * Mixture weights of the navigation-skill document kinds: compass, action-space binding, street notes, and (the
 * recipe of issue 24) worked next-action records; `nextAction` 0 gives the earlier curriculum.
 */
export type NavMix = { compass: number; binding: number; walk: number; nextAction: number };
export const NAV_MIX: NavMix = { compass: 0.15, binding: 0.25, walk: 0.1, nextAction: 0.5 };
/** The curriculum before issue 24's recipe (no worked next-action records). */
export const NAV_MIX_EARLIER: NavMix = { compass: 0.25, binding: 0.5, walk: 0.25, nextAction: 0 };

/** One navigation-skill document (compass, action-space binding, street notes, or a worked next action). */
export function navigationDocument(rng: Rng, mix: NavMix = NAV_MIX): string {
  const u = rng.next() * (mix.compass + mix.binding + mix.walk + mix.nextAction);
  if (u < mix.compass) return compassDoc(rng);
  if (u < mix.compass + mix.binding) return bindingDoc(rng);
  if (u < mix.compass + mix.binding + mix.walk) return walkDoc(rng);
  return nextActionDoc(rng);
}

/** Mixture weights of the document kinds; `navigation` (absent or 0: GeneralPoints only) adds navigation skills. */
export type CorpusMix = { arithmetic: number; rule: number; make24: number; navigation?: number };
export const DEFAULT_MIX: CorpusMix = { arithmetic: 0.25, rule: 0.3, make24: 0.45 };

/** The mix for a set of environments: GeneralPoints' mix, plus a `share` of navigation documents when trained. */
export function mixFor(envs: readonly string[], share: number): CorpusMix {
  if (!envs.includes("navigation")) return DEFAULT_MIX;
  const gp = DEFAULT_MIX.arithmetic + DEFAULT_MIX.rule + DEFAULT_MIX.make24;
  return { ...DEFAULT_MIX, navigation: (gp * share) / (1 - share) };
}

/** One stage-0 document; `cards` is the task's hand size (4: make-24 documents deal 3 or 4 cards). */
export function stage0Document(rng: Rng, mix: CorpusMix = DEFAULT_MIX, cards: 3 | 4 = 3): string {
  const u = rng.next() * (mix.arithmetic + mix.rule + mix.make24 + (mix.navigation ?? 0));
  if (u < mix.arithmetic) return arithmeticDoc(rng);
  if (u < mix.arithmetic + mix.rule) return ruleDoc(rng);
  if (u < mix.arithmetic + mix.rule + mix.make24) return make24Doc(rng, cards);
  return navigationDocument(rng);
}

/** About `chars` characters of stage-0 text (documents joined by blank lines) for a task of `cards` cards. */
export function stage0Corpus(rng: Rng, chars: number, mix: CorpusMix = DEFAULT_MIX, cards: 3 | 4 = 3): string {
  const docs: string[] = [];
  let n = 0;
  while (n < chars) {
    const d = stage0Document(rng, mix, cards);
    docs.push(d);
    n += d.length + 2;
  }
  return docs.join("\n\n") + "\n\n";
}

/** Probes for "can the model evaluate short expressions": `Value: a op b=` prompts with their answers. */
export function arithmeticProbes(rng: Rng, n: number): { prompt: string; answer: string }[] {
  const out: { prompt: string; answer: string }[] = [];
  while (out.length < n) {
    const nums = Array.from({ length: 2 }, () => 1 + rng.int(13));
    const s = withValue(randomExpression(rng, nums));
    if (!s) continue;
    const eq = s.lastIndexOf("=");
    out.push({ prompt: `Value: ${s.slice(0, eq + 1)}`, answer: s.slice(eq + 1) });
  }
  return out;
}

export type Probe = { prompt: string; answer: string };

/**
 * Probes for rule reading: a rule (random values, or the task's `id`/`ood` rule) and 3 cards with at least one face
 * card; the answer is the numbers list.
 */
export function ruleProbes(rng: Rng, n: number, which: "random" | "id" | "ood" = "random"): Probe[] {
  const out: Probe[] = [];
  for (let i = 0; i < n; i++) {
    const rule = which === "random" ? randomRule(rng) : TASK_RULES[which];
    const ranks = dealRanks(rng, 3, true);
    out.push({ prompt: `Rule: ${rule.sentence}.\nCards: ${pyList(ranks.map((r) => CARD[r - 1]))}\nnumber: [`, answer: ranks.map((r) => cardNumber(r, rule)).join(", ") + "]" });
  }
  return out;
}

/**
 * Make-24 probes in the plain stage-0 format under the task's ID or OOD rule, dealt as the task deals (`cards` cards;
 * ID: uniform ranks; OOD: at least one face card; solvable under the rule). The prompt stops at `number: [`; `values` are the
 * numbers under the rule (the model must write them, then a formula that reaches 24 with exactly them).
 */
export function make24Probes(rng: Rng, n: number, which: "id" | "ood", cards: 3 | 4 = 3): (Probe & { values: number[] })[] {
  const out: (Probe & { values: number[] })[] = [];
  const rule = TASK_RULES[which];
  while (out.length < n) {
    const ranks = dealRanks(rng, cards, which === "ood");
    const values = ranks.map((r) => cardNumber(r, rule));
    if (!isSolvable(values, 24)) continue;
    out.push({ prompt: `Rule: ${rule.sentence}.\nCards: ${pyList(ranks.map((r) => CARD[r - 1]))}\nnumber: [`, answer: values.join(", ") + "]", values });
  }
  return out;
}

/** Whether a greedy completion of a make-24 probe (from after `number: [`) writes the numbers, then a solution line (any lead) reaching 24 with them. */
export function make24Solved(completion: string, values: readonly number[]): boolean {
  const m = /^([^\]\n]*)\]\n(?:formula|Make 24|Solution): "([^\n="]*)=24"/.exec(completion);
  if (!m) return false;
  const nums = m[1].split(",").map((x) => Number(x.trim()));
  if (nums.length !== values.length || nums.some((v, i) => v !== values[i])) return false;
  return scoreFormula({ formula: m[2], values, solutions: [], target: 24 }).reward === GP_REWARDS.CORRECT_SOLUTION;
}

/**
 * Probes for action-space reading: the action-space line (the ID absolute list or the OOD relative list, half each),
 * a turn sentence naming both directions, and `Move: turn_direction(`; the answer is the allowed direction and `)`.
 * A model that ignores the list scores about 50 %.
 */
export function actionSpaceProbes(rng: Rng, n: number): { prompt: string; answer: string }[] {
  const out: { prompt: string; answer: string }[] = [];
  for (let i = 0; i < n; i++) {
    const abs = rng.pick(ABSOLUTE_DIRECTIONS);
    const rel = rng.pick(REL);
    const absolute = i % 2 === 0;
    const dirs = absolute ? [...ABSOLUTE_DIRECTIONS] : [...RELATIVE_DIRECTIONS];
    out.push({ prompt: `Moves: ${actionSpaceLine(dirs)}\nOrder: Turn ${rel} to face ${abs}.\nMove: turn_direction(`, answer: `${absolute ? abs : rel})` });
  }
  return out;
}

/** Probes for compass turns: `Compass: facing {h}, turn {t} -> facing ` with the resulting heading and `.`. */
export function compassProbes(rng: Rng, n: number): { prompt: string; answer: string }[] {
  const out: { prompt: string; answer: string }[] = [];
  for (let i = 0; i < n; i++) {
    const from = rng.pick(ABSOLUTE_DIRECTIONS);
    const turn = rng.pick(REL);
    out.push({ prompt: `Compass: facing ${from}, turn ${turn} -> facing `, answer: `${turnFrom(from, turn)}.` });
  }
  return out;
}

/**
 * Probes for worked next actions at turn points (the start or an intersection of a 1-3-leg route in the training
 * city) under the absolute or the relative action space: the record up to `action: turn_direction(`; the answer is
 * the oracle's direction in that space and `)`. Answering in the other space scores 0.
 */
export function nextActionProbes(rng: Rng, n: number, space: "absolute" | "relative"): Probe[] {
  const out: Probe[] = [];
  const cut = "action: turn_direction(";
  while (out.length < n) {
    const route = docRoute(rng);
    const turns = route.rail.map((q, i) => (turnDir(q.absoluteAction) ? i : -1)).filter((i) => i >= 0);
    const rec = nextActionRecord(rng, route, out.length % 2 === 0 ? 0 : rng.pick(turns), space);
    const at = rec.text.lastIndexOf(cut) + cut.length;
    out.push({ prompt: rec.text.slice(0, at), answer: `${turnDir(rec.action)})` });
  }
  return out;
}
