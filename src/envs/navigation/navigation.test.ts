/** Tests for the navigation environment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.2, App. B.3). */
import { describe, expect, it } from "vitest";
import { runEpisode } from "../episode.js";
import { evaluate, oraclePolicy, randomPolicy } from "../eval.js";
import { NavigationEnv, pointObservation } from "./env.js";
import { compassName, landmarkPhrase, relativeTurn } from "./route.js";
import { verifyNavigation } from "./verifier.js";

describe("navigation", () => {
  it("relative turns follow the released thresholds (no wrap-around)", () => {
    expect([relativeTurn(-90), relativeTurn(-45), relativeTurn(0), relativeTurn(30), relativeTurn(46), relativeTurn(-340)]).toEqual(["left", "slightly left", "slightly left", "slightly right", "right", "left"]);
    expect([compassName(0), compassName(44), compassName(177), compassName(350)]).toEqual(["north", "northeast", "south", "north"]);
    expect(landmarkPhrase("Astor Hotel", 135, 0)).toBe("Astor Hotel is on your right behind");
  });
  it("routes: templates, expert actions, observations", () => {
    const env = new NavigationEnv({ split: "id" });
    env.reset(3);
    const r = env.currentRoute;
    expect(r.sentences[0]).toMatch(/^First, turn (left|right|slightly left|slightly right) to face (north|northeast|east|southeast|south|southwest|west|northwest)\.$/);
    expect(r.sentences.at(-1)).toMatch(/^Move forward until you reach destination where .+ is on your (left|right) (front|behind)\.$/);
    expect(r.rail[0].absoluteAction).toMatch(/^turn_direction\(/);
    expect(r.rail.at(-1)!.absoluteAction).toBe("stop()");
    expect(pointObservation(r.rail[0])).toBe("No landmarks nearby; ");
    const inter = r.rail.filter((p) => p.intersection);
    expect(inter.length).toBe(r.sentences.length / 2 - 1);
    for (const p of inter) expect(pointObservation(p).endsWith("; You observe an intersection")).toBe(true);
  });
  it("rewards +1 / -1 / -1.5", () => {
    const obs = "No landmarks nearby; You observe an intersection";
    expect(verifyNavigation('{"action": "turn_direction(north)"}', "turn_direction(north)", obs).reward).toBe(1);
    expect(verifyNavigation('"current observation": "You observe an intersection", "action": "forward()"', "turn_direction(north)", obs).reward).toBe(-1);
    expect(verifyNavigation('"current observation": "nothing", "action": "forward()"', "turn_direction(north)", obs).reward).toBe(-1.5);
    expect(verifyNavigation("x".repeat(1_000_000), "forward()", "No landmarks nearby; ").reward).toBe(-1);
  });
  it("verifyIter 2: the third call at a point returns -1 and fails the route", async () => {
    const env = new NavigationEnv({ split: "ood" });
    const res = await runEpisode(env, async () => '{"action": "jump()"}', 11);
    expect(res.turns.length).toBe(2);
    expect(res.success).toBe(false);
    expect(res.totalReward).toBe(-1 - 1 - 1);
  });
  it("oracle 100% on every split; random policy reported", async () => {
    for (const split of ["id", "ood", "visual-ood"] as const) {
      const o = await evaluate({ env: "navigation", splits: [split], episodes: split === "visual-ood" ? 5 : 100, policy: oraclePolicy });
      expect(o.results[0].successRate).toBe(1);
      expect(o.results[0].perStepAccuracy).toBe(1);
    }
    const r = await evaluate({ env: "navigation", splits: ["id", "ood"], episodes: 200, seed: 1, policy: (e) => randomPolicy(e, 1) });
    console.info(`navigation random policy: ${r.results.map((x) => `${x.split} success ${x.successRate} per-step ${x.perStepAccuracy.toFixed(3)}`).join(", ")}`);
    expect(r.results[0].perStepAccuracy).toBeGreaterThan(0);
  });
  it("vision: 2x2 grid PNG, harbor city for visual OOD", () => {
    const env = new NavigationEnv({ split: "visual-ood", viewSize: 64 });
    const obs = env.reset(2);
    expect(env.city.style).toBe("harbor");
    const dv = new DataView(obs.image!.buffer, obs.image!.byteOffset);
    expect([dv.getUint32(16), dv.getUint32(20)]).toEqual([133, 133]);
    expect(obs.text).toContain("You observe an image of 4 views");
  });
});
