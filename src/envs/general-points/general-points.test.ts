/** Tests for GeneralPoints ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.1, App. A.3). */
import { describe, expect, it } from "vitest";
import { Rng } from "../../util/rng.js";
import { dealHand, dealRaw, makeHand } from "./cards.js";
import { evaluateFormula, formatFraction } from "./formula.js";
import { parseAnswer } from "./parse.js";
import { expertAnswer, generalPointsPrompt } from "./prompt.js";
import { checkSolution, isSolvable, solve } from "./solver.js";
import { scoreFormula, verifyAnswer } from "./verifier.js";
import { GeneralPointsEnv } from "./env.js";
import { runEpisode } from "../episode.js";

const hand = makeHand([1, 3, 13, 6], "id"); // A, 3, K, 6 -> [1, 3, 10, 6]
const sols = solve(hand.values);
const score = (formula: string) => scoreFormula({ formula, values: hand.values, solutions: sols, target: 24 });

describe("verifier test vectors (notes §1.2, cards A,3,K,6, ID rule)", () => {
  const cases: [string, number, string | null][] = [
    ["10*3-6*1", 5, "Correct solution."],
    ["3*10-6/1", 5, "Correct solution."],
    ["(1+6)*3+10", -1, "(1 is partially correct but the full formula does not match any solution."],
    ["4 * 3", -3, "illegal characters."],
    ["3*10-6*1 ", -3, "illegal characters."],
    ["10*3-6*1)", -3, "unmatched closing parenthesis."],
    ["10*3-6", -2, "you didn't use numbers: [1]."],
    ["(1+6)*3+13", -4, "you used invalid numbers: [13], you didn't use numbers: [10]."],
    ["1+3+6+10+10", -2, "you used numbers: [10] too many times."],
    ["((1+6)*3+10", -1, null],
  ];
  for (const [f, r, msg] of cases) {
    it(JSON.stringify(f), () => {
      const s = score(f);
      expect(s.reward).toBe(r);
      if (msg) expect(s.feedback).toBe(msg);
    });
  }
  it("accumulates syntax penalties and handles the partial-solution path", () => {
    expect(score("1++3").feedback).toBe("invalid sequence after operator, you didn't use numbers: [10, 6].");
    expect(score("1++3").reward).toBe(-5);
    expect(score(")(1").reward).toBe(-3 - 3 - 2);
    expect(score("(10*3-6*1").reward).toBe(-1); // unclosed: eval fails, no solution starts with it
    expect(score("(3*10-6)*1").reward).toBe(5);
    expect(score("").feedback).toBe("you didn't use numbers: [1, 3, 10, 6].");
    expect(score("010*3-6*1").reward).toBe(-1); // leading zero: Python eval raises
  });
  it("exact fractions: 8/(3-8/3) = 24", () => {
    const h = makeHand([8, 3, 8, 3], "id");
    expect(scoreFormula({ formula: "8/(3-8/3)", values: h.values, solutions: solve(h.values), target: 24 }).reward).toBe(5);
  });
});

describe("parsing and prompts", () => {
  it("reads the SFT answer format by regex and cuts at '='", () => {
    const a = expertAnswer(hand, "10*3-6*1");
    const p = parseAnswer(a);
    expect(p).toEqual({ formula: "10*3-6*1", cards: ["A", "3", "K", "6"], source: "regex" });
    expect(verifyAnswer(hand, a, { vision: true }).reward).toBe(5);
    expect(parseAnswer('{"formula": "1+2=3", "cards": ["A","3","K","6"]}')).toEqual({ formula: "1+2", cards: ["A", "3", "K", "6"], source: "json" });
    expect(parseAnswer("no json here").formula).toBe("None");
  });
  it("vision recognition check gives -1.5", () => {
    const r = verifyAnswer(hand, expertAnswer({ ...hand, names: ["A", "3", "Q", "6"] }, "10*3-6*1"), { vision: true });
    expect(r.reward).toBe(-1.5);
    expect(r.feedback).toBe("you recognized wrong cards");
  });
  it("prompt text", () => {
    const p = generalPointsPrompt(hand);
    expect(p).toContain("Cards: ['A', '3', 'K', '6']");
    expect(p).toContain("Note that 'J', 'Q', and 'K' count as '10', and each card must be used once.");
    expect(generalPointsPrompt({ ...hand, rule: "ood" }, { variant: "vision" })).toContain("You are observing these four cards in the image.");
    expect(generalPointsPrompt({ ...hand, rule: "ood" })).toContain(`"cards": [x, y, z, w], where 'J', 'Q', and 'K' count as '11', '12', and '13' respectively,`);
  });
});

describe("solver", () => {
  it("returns every solution, each exact", () => {
    expect(sols.length).toBe(70);
    expect(sols).toContain("10*3-6*1");
    for (const s of sols) expect(checkSolution(s)).toBe(true);
    expect(solve([1, 1, 1, 1])).toEqual([]);
    expect(formatFraction((evaluateFormula("1/3+1/6") as { ok: true; value: { n: bigint; d: bigint } }).value)).toBe("1/2");
  });
  it("solvable fraction of 10,000 raw draws matches the notes (76.5% ID, 74% OOD on 400 draws)", () => {
    // Exact values by enumerating all 13^4 draws with the released solver's patterns: ID 0.73093, OOD 0.73054.
    for (const [s, notes, exact] of [["id", 0.765, 0.73093], ["ood", 0.74, 0.73054]] as const) {
      const rng = Rng.stream(0, `solvable-${s}`);
      let k = 0;
      for (let i = 0; i < 10_000; i++) if (isSolvable(makeHand(dealRaw(rng, s), s).values)) k++;
      const f = k / 10_000;
      expect(Math.abs(f - exact)).toBeLessThan(0.015); // 3 SE of 10,000 draws
      expect(Math.abs(f - notes)).toBeLessThan(0.045); // 2 SE of the notes' 400-draw estimate
    }
  });
  it("OOD hands hold a face card; dealt hands are solvable", () => {
    const rng = Rng.stream(1, "t");
    for (let i = 0; i < 200; i++) {
      const h = dealHand(rng, { rule: "ood", sampler: "ood" });
      expect(h.cards.some((c) => c.rank >= 11)).toBe(true);
      expect(isSolvable(h.values)).toBe(true);
    }
  });
});

describe("robustness", () => {
  it("fuzz: 100,000 random and adversarial answers, no exception, bounded time", () => {
    const rng = Rng.stream(7, "fuzz");
    const alphabet = "0123456789+-*/()= \n\"'{}[],:formulacards١２é\u0000";
    const adversarial = [
      "(".repeat(10_000) + "1+3+6+10" + ")".repeat(10_000),
      "9".repeat(500) + "*3-6*1",
      "x".repeat(2_000_000),
      '"formula": "' + "(".repeat(50_000),
      '"cards": ['.repeat(100_000),
      '{"formula": 24}',
      '{"formula": "' + "1+".repeat(100_000) + '1"}',
      "((((((((((1+3)*6)))))))))+10".replace(/^/, ""),
      "\ud800\udfff💥" + "10*3-6*1",
      "[]".repeat(100_000),
    ];
    const t0 = Date.now();
    let n = 0;
    for (const a of adversarial) {
      const r = verifyAnswer(hand, a, { vision: n % 2 === 0 });
      expect(Number.isFinite(r.reward)).toBe(true);
      n++;
    }
    while (n < 100_000) {
      const len = rng.int(40);
      let f = "";
      for (let i = 0; i < len; i++) f += alphabet[rng.int(alphabet.length)];
      const answer = rng.next() < 0.5 ? f : `{"formula": "${f}", "cards": ['A', '3', 'K', '6']}`;
      const r = verifyAnswer(hand, answer, { vision: rng.next() < 0.2 });
      if (typeof r.reward !== "number" || typeof r.feedback !== "string") throw new Error("bad result");
      n++;
    }
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(20_000);
    console.info(`fuzz: ${n} answers in ${ms} ms (${Math.round(n / (ms / 1000))}/s)`);
  });
  it("deep nesting is refused without recursion", () => {
    const r = evaluateFormula("(".repeat(10_000) + "1" + ")".repeat(10_000));
    expect(r.ok).toBe(false);
    expect(evaluateFormula("(".repeat(200) + "1" + ")".repeat(200)).ok).toBe(true);
  });
});

describe("episodes", () => {
  it("revision loop: feedback turns, success on a later +5, -1 step limit", async () => {
    const env = new GeneralPointsEnv({ split: "id" });
    let calls = 0;
    const res = await runEpisode(env, async (msgs) => {
      calls++;
      if (calls === 3) {
        expect(msgs.length).toBe(5);
        expect(msgs[2].content.startsWith("You failed this trial because ")).toBe(true);
        return env.expertAnswer();
      }
      return '"formula": "1+1"';
    }, 5);
    expect(res.success).toBe(true);
    expect(res.turns.map((t) => t.reward)).toEqual([-4, -4, 5]);
    expect(calls).toBe(3);
    const fail = await runEpisode(env, async () => "nothing", 5);
    expect(fail.success).toBe(false);
    expect(fail.turns.length).toBe(5);
    expect(fail.totalReward).toBe(5 * -3 - 1);
  });
  it("vision split renders a PNG", () => {
    const env = new GeneralPointsEnv({ split: "visual-ood", imageSize: 200 });
    const obs = env.reset(1);
    expect(obs.image?.subarray(1, 4)).toEqual(new Uint8Array([80, 78, 71]));
    expect(env.currentHand.cards.every((c) => c.suit === "H" || c.suit === "D")).toBe(true);
  });
});

describe("3-card hands (the `cards: 3` option)", () => {
  it("solves 3 numbers with the solver's three bracket patterns and checks each answer exactly", () => {
    const s = solve([4, 6, 12]);
    expect(s).toContain("4*(12-6)");
    expect(s.every((f) => checkSolution(f))).toBe(true);
    expect(solve([1, 1, 1])).toEqual([]);
    expect(() => solve([1, 2])).toThrow(/3 or 4 integers/);
  });
  it("deals solvable hands under both samplers; the OOD sampler always holds a J, Q or K", () => {
    const rng = new Rng(9, "three");
    let raw = 0;
    let solvable = 0;
    for (let i = 0; i < 4000; i++) {
      const cards = dealRaw(rng, "id", "mixed", 3);
      expect(cards).toHaveLength(3);
      raw++;
      if (isSolvable(makeHand(cards, "id").values)) solvable++;
    }
    // About 22 % of raw 3-card deals reach 24 (measured over 20,000 deals: 22.5 % ID, 22.0 % OOD).
    expect(solvable / raw).toBeGreaterThan(0.19);
    expect(solvable / raw).toBeLessThan(0.26);
    for (let i = 0; i < 200; i++) {
      const h = dealHand(rng, { rule: "ood", sampler: "ood", cards: 3 });
      expect(h.cards).toHaveLength(3);
      expect(h.cards.some((c) => c.rank >= 11)).toBe(true);
      expect(isSolvable(h.values)).toBe(true);
    }
  });
  it("prompts say 3 cards, the verifier grades 3-number formulas, and the expert answer wins +5", () => {
    const env = new GeneralPointsEnv({ split: "ood", cards: 3 });
    const obs = env.reset(3);
    expect(obs.text).toContain("You will receive a set of 3 cards.");
    expect(obs.text).toContain('"cards": [x, y, z], where');
    expect(obs.text).toContain('"number": [a, b, c], where a, b, and c are the numbers on the cards,');
    expect(env.step(env.expertAnswer()).reward).toBe(5);
    const h = makeHand([6, 4, 12], "ood"); // 6, 4, Q -> [6, 4, 12]
    const v = verifyAnswer(h, expertAnswer(h, "4*(12-6)"));
    expect(v.reward).toBe(5);
    expect(verifyAnswer(h, expertAnswer(h, "4*(10-6)")).feedback).toBe("you used invalid numbers: [10], you didn't use numbers: [12].");
    expect(parseAnswer(expertAnswer(h, "4*(12-6)"), 3).cards).toEqual(["6", "4", "Q"]);
    expect(() => new GeneralPointsEnv({ cards: 5 as never })).toThrow(/cards must be one of 3, 4/);
  });
});
