/**
 * Navigation in the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.2, App. B.3):
 * the `envs` switch and its errors, the quick preset unchanged, the stage-0 corpus unchanged for GeneralPoints-only
 * configs and holding navigation skills (not the task) otherwise, the probes, the phrase tokenizer on navigation
 * prompts, prompts + answers within the context, expert SFT data that parses and is correct, prompt shortening,
 * and the first-answer tags.
 */
import { describe, expect, it } from "vitest";
import { ABSOLUTE_DIRECTIONS, buildCity, CITY_SEEDS, episodeSeed, generateRoute, NavigationEnv, readField, RELATIVE_DIRECTIONS, verifyNavigation } from "../../envs/index.js";
import { applyOverrides, validateConfig } from "../../train/config.js";
import { Rng } from "../../util/rng.js";
import { sftVsRlPresets, sftVsRlSchema } from "./config.js";
import { actionSpaceProbes, compassProbes, DEFAULT_MIX, mixFor, NAV_MIX, navigationDocument, nextActionProbes, nextActionRecord, stage0Corpus, turnFrom } from "./corpus.js";
import { expertDataset, setup } from "./experiment.js";
import { fitNavigationPrompt, navAnswerTags, navEnv, navSpec } from "./tasks.js";
import { GP_PHRASES, PhraseTokenizer, phrasesFor, renderChat } from "./tokenizer.js";


describe("config: the envs switch", () => {
  const withSet = (...sets: string[]) => validateConfig(sftVsRlSchema, applyOverrides(sftVsRlPresets.quick, sets));
  it("accepts a comma-separated list or a JSON array, in canonical order", () => {
    expect(withSet("envs=general-points,navigation").envs).toEqual(["general-points", "navigation"]);
    expect(withSet('envs=["navigation","general-points"]').envs).toEqual(["general-points", "navigation"]);
    expect(withSet("envs=navigation").envs).toEqual(["navigation"]);
    expect(withSet("navigation.ppo.updates=5").navigation.ppo.updates).toBe(5);
  });
  it("rejects unknown, empty and repeated names with one line naming the field and the allowed values", () => {
    expect(() => withSet("envs=foo")).toThrow(/^config: envs is "foo"; expected a non-empty list of distinct names from "general-points", "navigation".*unknown: "foo"$/);
    expect(() => withSet("envs=[]")).toThrow(/config: envs is \[\]; expected a non-empty list/);
    expect(() => withSet("envs=navigation,navigation")).toThrow(/config: envs is "navigation,navigation"/);
    expect(() => withSet("envs=navigation", "navigation.sftInit.seqLen=300")).toThrow(/config: navigation\.sftInit\.seqLen is 300; expected a value <= model\.contextLength/);
  });
  it("keeps quick GeneralPoints-only (3-card hands); tiny and full run every task", () => {
    const q = sftVsRlPresets.quick;
    expect(q.envs).toEqual(["general-points"]);
    expect(q.env).toBeUndefined();
    expect(q.cards).toBe(3);
    expect(sftVsRlPresets.full.cards).toBe(4);
    expect(sftVsRlPresets.tiny.envs).toEqual(["general-points", "navigation", "general-points-vl"]);
    expect(sftVsRlPresets.full.envs).toEqual(["general-points", "navigation", "general-points-vl"]);
    expect(setup(q).model.vocabSize).toBe(256 + GP_PHRASES.length);
  });
  it("reads a config saved before `envs` existed as GeneralPoints only", () => {
    const legacy: Record<string, unknown> = { ...structuredClone(sftVsRlPresets.quick), env: "general-points" };
    delete legacy.envs;
    delete legacy.navigation;
    const c = validateConfig(sftVsRlSchema, legacy);
    expect(c.envs).toEqual(["general-points"]);
    expect(c.navigation.verifyIter).toBe(2);
  });
});

describe("stage-0 corpus with navigation skills", () => {
  it("holds no navigation document for GeneralPoints-only configs, and is a function of its seed", () => {
    const gpOnly = stage0Corpus(Rng.stream(0, "stage0-corpus"), 20_000, mixFor(["general-points"], 0.35));
    expect(mixFor(["general-points"], 0.35)).toBe(DEFAULT_MIX);
    expect(gpOnly).not.toMatch(/^(Compass|Moves|Order|Walk|Directions|Done|Now|instruction|action):/m);
    expect(stage0Corpus(Rng.stream(0, "stage0-corpus"), 20_000, DEFAULT_MIX)).toBe(gpOnly);
    expect(stage0Corpus(Rng.stream(1, "stage0-corpus"), 20_000, DEFAULT_MIX)).not.toBe(gpOnly);
  });
  it("holds compass, action-space and street documents in the planned share, correct, and never the task", () => {
    const text = stage0Corpus(Rng.stream(0, "stage0-corpus"), 60_000, mixFor(["general-points", "navigation"], 0.35));
    const docs = text.split("\n\n").filter((d) => d.length > 0);
    const nav = docs.filter((d) => /^(Compass|Moves|Order|Walk|Directions):/.test(d));
    expect(nav.length / docs.length).toBeGreaterThan(0.28);
    expect(nav.length / docs.length).toBeLessThan(0.42);
    for (const m of text.matchAll(/Compass: facing (\w+), turn ([a-z ]+) -> facing (\w+)\./g)) expect(turnFrom(m[1], m[2] as "left")).toBe(m[3]);
    for (const m of text.matchAll(/Compass: from (\w+) to (\w+) is a turn ([a-z ]+)\./g)) expect(turnFrom(m[1], m[3] as "left")).toBe(m[2]);
    let bindings = 0;
    for (const m of text.matchAll(/where x is one of \[([^\]]+)\]\nOrder: (?:First, turn|Turn) ([a-z ]+) to face (\w+)\.\nMove: turn_direction\(([a-z ]+)\)/g)) {
      const listed = m[1].split(", ").map((d) => d.replace(/'/g, ""));
      expect(listed).toContain(m[4]);
      expect([m[2], m[3]]).toContain(m[4]);
      expect(listed.includes(m[2]) && listed.includes(m[3])).toBe(false); // exactly one of the two is allowed
      bindings++;
    }
    expect(bindings).toBeGreaterThan(20);
    for (const taskText of ["You are an expert navigator", "[Observations and actions sequence]", "[Action space]", "[Instruction]", '"current observation"', '"action"', "O_1: ", "A_1: ", "points card game"]) expect(text).not.toContain(taskText);
    // Worked next-action records are a planned share of the navigation documents.
    const worked = nav.filter((d) => /\naction: /.test(d)).length / nav.length;
    expect(worked).toBeGreaterThan(NAV_MIX.nextAction / 1.25 / (NAV_MIX.compass + NAV_MIX.binding + NAV_MIX.walk + NAV_MIX.nextAction));
    expect(worked).toBeLessThan((1.25 * NAV_MIX.nextAction) / (NAV_MIX.compass + NAV_MIX.binding + NAV_MIX.walk + NAV_MIX.nextAction));
  });
  it("worked next-action records: the oracle's action in the stated space, so the answer depends on the action-space line", () => {
    const city = buildCity("metro", CITY_SEEDS.metro);
    const rng = new Rng(11);
    let turns = 0;
    for (let i = 0; i < 200; i++) {
      const route = generateRoute(city, rng, { minLegs: 2, maxLegs: 2 });
      const k = rng.int(route.rail.length);
      const p = route.rail[k];
      const abs = nextActionRecord(rng, route, k, "absolute");
      const rel = nextActionRecord(rng, route, k, "relative");
      const mix = nextActionRecord(rng, route, k, "mixed");
      expect(abs.action).toBe(p.absoluteAction);
      expect(rel.action).toBe(p.relativeAction);
      for (const r of [abs, rel, mix]) {
        expect(r.text.endsWith(`\naction: ${r.action}`)).toBe(true);
        expect(r.text).toContain(`\ninstruction: ${route.sentences[p.instructionIndex - 1]}\n`);
        for (const s of route.sentences) expect(r.text).toContain(s);
      }
      if (p.absoluteAction.startsWith("turn_direction(")) {
        turns++;
        expect(abs.action).not.toBe(rel.action);
        const listed = /where x is one of \[([^\]]*)\]/.exec(mix.text)![1].split(", ").map((d) => d.replace(/'/g, ""));
        const a = p.absoluteAction.slice(15, -1);
        const r = p.relativeAction.slice(15, -1);
        expect(listed.includes(a) !== listed.includes(r)).toBe(true); // exactly one of the point's two directions
        expect(mix.action).toBe(`turn_direction(${listed.includes(a) ? a : r})`);
      } else expect(mix.action).toBe(p.absoluteAction);
    }
    expect(turns).toBeGreaterThan(30);
    const docs = Array.from({ length: 300 }, () => navigationDocument(rng, { compass: 0, binding: 0, walk: 0, nextAction: 1 }));
    const lists = docs.map((d) => /where x is one of \[([^\]]*)\]/.exec(d)![1]);
    const absList = ABSOLUTE_DIRECTIONS.map((d) => `'${d}'`).join(", ");
    const relList = RELATIVE_DIRECTIONS.map((d) => `'${d}'`).join(", ");
    for (const [list, lo, hi] of [[absList, 0.25, 0.42], [relList, 0.25, 0.42]] as const) {
      const share = lists.filter((l) => l === list).length / lists.length;
      expect(share).toBeGreaterThan(lo);
      expect(share).toBeLessThan(hi);
    }
    for (const p of nextActionProbes(new Rng(5), 20, "relative")) {
      expect(p.prompt.endsWith("\naction: turn_direction(")).toBe(true);
      expect(RELATIVE_DIRECTIONS as readonly string[]).toContain(p.answer.slice(0, -1));
      expect(p.prompt).toContain(`where x is one of [${relList}]`);
    }
    for (const p of nextActionProbes(new Rng(6), 20, "absolute")) expect(ABSOLUTE_DIRECTIONS as readonly string[]).toContain(p.answer.slice(0, -1));
  });
  it("turns and probes: compass arithmetic, probes answer from the listed action space", () => {
    expect([turnFrom("north", "right"), turnFrom("north", "slightly left"), turnFrom("west", "left"), turnFrom("southeast", "slightly right")]).toEqual(["east", "northwest", "south", "south"]);
    expect(() => turnFrom("up", "left")).toThrow(/heading must be one of north/);
    const probes = actionSpaceProbes(new Rng(5), 20);
    for (const [i, p] of probes.entries()) {
      const want = p.answer.slice(0, -1);
      expect((i % 2 === 0 ? ABSOLUTE_DIRECTIONS : RELATIVE_DIRECTIONS) as readonly string[]).toContain(want);
      expect(p.prompt).toContain(`'${want}'`);
      expect(p.prompt.endsWith("Move: turn_direction(")).toBe(true);
    }
    for (const p of compassProbes(new Rng(6), 20)) {
      const m = /facing (\w+), turn ([a-z ]+) -> facing $/.exec(p.prompt)!;
      expect(p.answer).toBe(`${turnFrom(m[1], m[2] as "left")}.`);
    }
  });
});

describe("navigation prompts, answers and SFT data", () => {
  const cfg = sftVsRlPresets.tiny;
  const { tok, model } = setup(cfg);
  const budget = model.contextLength - cfg.navigation.maxNewTokens;
  it("adds navigation phrases only when navigation is trained; round-trips and compresses navigation text", () => {
    expect(phrasesFor(["general-points"])).toEqual([...GP_PHRASES]);
    expect(tok.vocabSize).toBeGreaterThan(256 + GP_PHRASES.length);
    const env = new NavigationEnv({ split: "ood" });
    const obs = env.reset(9);
    for (const s of [obs.text, env.expertAnswer()]) expect(tok.decode(tok.encode(s))).toBe(s);
    expect(tok.encode(obs.text).length).toBeLessThan(obs.text.length / 8);
    // The action space is read, not looked up: each listed direction is its own token.
    const ids = tok.encode(obs.text);
    for (const d of RELATIVE_DIRECTIONS) expect(ids).toContain(tok.id(`'${d}'`));
  });
  it("every rail-point prompt of 300 routes per split fits the context with the answer budget, unshortened", () => {
    for (const split of ["id", "ood"] as const) {
      const env = new NavigationEnv({ split });
      let maxPrompt = 0;
      let maxAnswer = 0;
      for (let i = 0; i < 300; i++) {
        let text = env.reset(episodeSeed(42, "navigation", split, i)).text;
        for (;;) {
          maxPrompt = Math.max(maxPrompt, renderChat(tok, [{ role: "user", content: text }], 10_000).length);
          maxAnswer = Math.max(maxAnswer, tok.encode(env.expertAnswer() + "<|end|>\n").length);
          const r = env.step(env.expertAnswer());
          if (r.done) break;
          text = r.observation.text;
        }
      }
      expect(maxPrompt).toBeLessThanOrEqual(budget);
      expect(maxAnswer).toBeLessThanOrEqual(cfg.navigation.maxNewTokens);
    }
  });
  it("expert SFT data: exact prompts, answers that parse and are the expert action, within the padded length", () => {
    const c = { ...cfg, navigation: { ...cfg.navigation, sftInit: { ...cfg.navigation.sftInit, dataSize: 120 } } };
    const spec = navSpec(c, tok, model.contextLength);
    const data = expertDataset(c, tok, budget, spec);
    expect(data.length).toBe(120);
    const actions = new Set<string>();
    for (const d of data) {
      expect(d.prompt.length + d.response.length - 1).toBeLessThanOrEqual(spec.sftInit.seqLen);
      const prompt = tok.decode(d.prompt);
      expect(prompt.startsWith("<|user|>\n[Task Description]\nYou are an expert navigator.")).toBe(true);
      expect(prompt).toContain("where x is one of ['north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', 'northwest']");
      const answer = tok.decode(d.response).replace(/<\|end\|>\n$/, "");
      const action = readField(answer, "action");
      expect(action).toMatch(/^(forward\(\)|stop\(\)|turn_direction\((north|northeast|east|southeast|south|southwest|west|northwest)\))$/);
      const obs = readField(answer, "current observation");
      expect(verifyNavigation(answer, action, obs).reward).toBe(1);
      // The answer's observation is the one shown as the last `O_k` of the prompt.
      expect(prompt).toContain(`: ${obs}\nA_`);
      actions.add(action === "forward()" || action === "stop()" ? action : "turn");
    }
    expect([...actions].sort()).toEqual(["forward()", "stop()", "turn"]);
    // Routes are walked point by point: the first example of a route is its start (a turn, empty history).
    expect(tok.decode(data[0].prompt)).toContain("O_1: No landmarks nearby; \nA_1: \n");
  });
  it("shortens an over-long prompt by dropping the oldest history pairs only", () => {
    const env = new NavigationEnv({ split: "id" });
    let seed = 0;
    while (env.reset(seed).text && env.currentRoute.rail.length < 6) seed++;
    let text = env.reset(seed).text;
    for (let k = 0; k < 4; k++) text = env.step(env.expertAnswer()).observation.text;
    const full = renderChat(tok, [{ role: "user", content: text }], 10_000).length;
    expect(fitNavigationPrompt(tok, text, full)).toEqual({ text, dropped: 0 });
    const cut = fitNavigationPrompt(tok, text, full - 5);
    expect(cut.dropped).toBeGreaterThan(0);
    expect(renderChat(tok, [{ role: "user", content: cut.text }], 10_000).length).toBeLessThanOrEqual(full - 5);
    expect(cut.text).not.toContain("O_1: ");
    expect(cut.text).toContain("A_5: \n"); // the current point stays
    expect(cut.text.split("[Observations and actions sequence]")[0]).toBe(text.split("[Observations and actions sequence]")[0]);
    expect(() => fitNavigationPrompt(tok, text, 20)).toThrow(/does not fit in 20 tokens/);
    const fitted = navEnv("id", 2, tok, full - 5);
    expect(fitted.reset(seed).text).toBe(env.reset(seed).text); // short prompts pass through unchanged
  });
  it("routeLegs: 2-leg routes (4 instruction sentences) on every split when set; the environment's 2..4 otherwise", () => {
    const two = navEnv("ood", 2, tok, budget, [2, 2]);
    const any = navEnv("ood", 2, tok, budget);
    const lengths = new Set<number>();
    for (let i = 0; i < 40; i++) {
      two.reset(episodeSeed(42, "navigation", "ood", i));
      expect(two.inner.currentRoute.sentences.length).toBe(4);
      any.reset(episodeSeed(42, "navigation", "ood", i));
      lengths.add(any.inner.currentRoute.sentences.length);
    }
    expect(lengths.size).toBeGreaterThan(1);
    expect(() => validateConfig(sftVsRlSchema, { ...sftVsRlPresets.tiny, navigation: { ...sftVsRlPresets.tiny.navigation, routeLegs: [3, 2] } })).toThrow(/routeLegs/);
  });
  it("tags first answers: parsed, in the prompt's action space, in the training space on OOD, correct", () => {
    const ood = navEnv("ood", 2, tok, budget);
    ood.reset(episodeSeed(42, "navigation", "ood", 0));
    expect(navAnswerTags(ood, ood.expertAnswer()).sort()).toEqual(["action-in-prompt-space", "correct", "parsed", "turn-in-prompt-space"]);
    expect(navAnswerTags(ood, JSON.stringify({ action: "forward()" })).sort()).toEqual(["action-in-prompt-space", "parsed"]);
    const gt = ood.inner.expertAction();
    const abs = ood.inner.currentRoute.rail[0].absoluteAction;
    expect(gt).toMatch(/^turn_direction\((left|right|slightly left|slightly right)\)$/);
    expect(navAnswerTags(ood, JSON.stringify({ action: abs })).sort()).toEqual(["action-in-training-space", "parsed"]);
    expect(navAnswerTags(ood, "no json here")).toEqual([]);
    const id = navEnv("id", 2, tok, budget);
    id.reset(episodeSeed(42, "navigation", "id", 0));
    expect(navAnswerTags(id, JSON.stringify({ action: "turn_direction(left)" }))).toEqual(["parsed"]);
  });
});

describe("phrase tokenizer with both environments", () => {
  it("keeps the GeneralPoints rule values readable digit by digit", () => {
    const tok = new PhraseTokenizer(phrasesFor(["general-points", "navigation"]));
    const s = "Note that 'J', 'Q', and 'K' count as '11', '12', and '13' respectively, and each card must be used once.\n";
    expect(tok.decode(tok.encode(s))).toBe(s);
    expect(tok.encode(s)).toEqual(new PhraseTokenizer(GP_PHRASES).encode(s));
  });
});
