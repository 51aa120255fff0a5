/**
 * End to end: the `tiny` preset runs every stage (stage 0, SFT init, PPO, SFT at matched FLOPs, PPO without SFT)
 * for GeneralPoints, navigation and GP-VL through the experiment runner and writes its files (summary, schema-valid
 * verdicts, results beside the paper's numbers, report); the batched episode runner agrees with the environments'
 * `runEpisode`; `tinyfoundry serve` answers on loopback and the environments' harness client scores the served policy.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initEngine } from "../../engine/index.js";
import { chatPolicy, createChatClient, episodeSeed, evaluate, runEpisode } from "../../envs/index.js";
import { createRun, openRun } from "../../train/run-dir.js";
import { VERDICTS, type VerdictsFile } from "../../train/claims.js";
import { quietContext, readVerdicts, runExperiment } from "../../train/experiment.js";
import { Rng } from "../../util/rng.js";
import { evaluateLM } from "./rollout.js";
import { completeChat, disposePolicy, loadPolicy, parseChatRequest } from "./serve.js";
import { GP_VL_VISUAL_CLAIMS, gpEnv, navEnv, PAPER_GP_VL, PAPER_VIRL_L, sftVsRlExperiment, VIRL_L_CLAIMS, type SftVsRlSummary, type TaskSummary } from "./index.js";

let runDir = "";
let summary: SftVsRlSummary;
let verdicts: VerdictsFile;
const task = (env: TaskSummary["env"]) => summary.tasks.find((t) => t.env === env)!;
const claimsOf = (prefix: string) => verdicts.claims.filter((c) => c.id.startsWith(prefix));
let server: ChildProcess | null = null;

beforeAll(async () => {
  await initEngine();
  const root = mkdtempSync(join(tmpdir(), "sft-vs-rl-"));
  const config = sftVsRlExperiment.presets.tiny;
  const run = createRun({ experiment: "sft-vs-rl", seed: config.seed, config, root, extraMeta: { preset: "tiny" } });
  runDir = run.dir;
  const out = await runExperiment(sftVsRlExperiment, config, quietContext(run));
  summary = out.summary!;
  verdicts = readVerdicts(runDir)!;
}, 180_000);

afterAll(() => {
  server?.kill("SIGTERM");
});

describe("sft-vs-rl tiny preset", () => {
  it("runs every stage and writes summary, verdicts, results and report", () => {
    for (const f of ["summary.json", "verdicts.json", "results.md", "report.html", "report.md", "policy.json"]) expect(existsSync(join(runDir, f))).toBe(true);
    for (const arm of ["stage0", "sft-init", "ppo", "sft", "ppo-no-sft", "nav-sft-init", "nav-ppo", "nav-sft"]) expect(openRun(join(runDir, "arms", arm)).meta().status).toBe("completed");
    const results = readFileSync(join(runDir, "results.md"), "utf8");
    expect(results).toContain("| GP-L rule OOD |");
    expect(results).toMatch(/\| claim \| paper \| ours \| seed floor \| gate \| verdict \| why \|/);
    expect(results).toContain("smoke test");
    // Typed verdicts: a tiny run is a smoke test; every claim has its gates and a verdict from the closed set.
    expect(verdicts.smokeTest).toBe(true);
    expect(claimsOf("gp-").map((c) => c.id)).toEqual(["gp-ood-rl", "gp-ood-sft", "gp-ood-gap", "gp-id-rl", "gp-id-sft", "gp-no-sft-fails"]);
    for (const c of verdicts.claims) {
      expect(VERDICTS).toContain(c.verdict);
      expect(c.gates.length).toBeGreaterThan(0);
      expect(c.ours?.seeds).toEqual([0]);
    }
    const init = task("general-points").init.row;
    for (const k of ["idSuccess", "idStdErr", "oodSuccess", "oodStdErr", "idParsed"]) expect(Number.isFinite(init[k])).toBe(true);
    // The no-SFT arm is evaluated at its start (the stage-0 model) and after its updates.
    const n = summary.noSft[0];
    for (const r of [n.start, n.final]) expect(Number.isFinite(r.idSuccess)).toBe(true);
  });
  it("writes the navigation rows beside the paper's V-IRL-L numbers, with per-step accuracy and verdicts", () => {
    const results = readFileSync(join(runDir, "results.md"), "utf8");
    expect(results).toContain("### SFT vs RL on navigation (V-IRL-L analogue, language) (tiny preset)");
    const row = results.split("\n").find((l) => l.startsWith("| V-IRL-L rule OOD, per-step accuracy |"))!;
    expect(row).toContain(`| ${PAPER_VIRL_L.init} | ${PAPER_VIRL_L.rl} (+11.0) | ${PAPER_VIRL_L.sft} (-79.5) |`);
    for (const r of ["| V-IRL-L in-distribution, per-step accuracy |", "| V-IRL-L rule OOD, route success |", `| ${VIRL_L_CLAIMS.oodRl.paper} |`, `| ${VIRL_L_CLAIMS.oodSft.paper} |`]) expect(results).toContain(r);
    expect(results).toMatch(/Stage 0 navigation skills: action-space reading \d+\.\d %/);
    const nav = task("navigation");
    for (const k of ["idPerStep", "idPerStepStdErr", "oodPerStep", "oodPerStepStdErr", "idSuccess", "oodSuccess", "idParsed", "oodPromptSpace", "oodPromptTurn", "oodTrainingSpace"]) expect(Number.isFinite(nav.init.row[k])).toBe(true);
    expect(nav.init.row.idGradedSteps).toBeGreaterThanOrEqual(sftVsRlExperiment.presets.tiny.navigation.evalEpisodes);
    expect(claimsOf("nav-").length).toBe(5);
    // The navigation OOD claims are gated on the init answering OOD prompts in the relative action space.
    expect(claimsOf("nav-ood-rl")[0].gates.map((g) => g.name)).toContain("SFT init: first OOD answers turn in the relative action space");
    // Equal-FLOPs comparison for navigation too: the SFT branch is evaluated at the PPO checkpoints' FLOPs.
    expect(nav.sft.points.length).toBe(nav.ppo.points.length);
    const f = nav.ppo.points.map((p) => p.flops);
    for (let i = 1; i < f.length; i++) expect(f[i]).toBeGreaterThan(f[i - 1]);
    expect(Math.abs(nav.sft.points.at(-1)!.flops - f.at(-1)!) / f.at(-1)!).toBeLessThan(0.35);
    const rows = openRun(join(runDir, "arms", "nav-ppo")).metrics<Record<string, number>>().filter((r) => r.update > 0);
    expect(rows.length).toBe(2);
    for (const r of rows) for (const k of ["policyLoss", "valueLoss", "approxKL", "meanStepReward", "oodPerStep"]) expect(Number.isFinite(r[k])).toBe(true);
    const s0 = summary.stage0 as Record<string, number>;
    for (const k of ["actionSpaceAccuracy", "compassAccuracy"]) expect(s0[k]).toBeGreaterThanOrEqual(0);
    expect(readFileSync(join(runDir, "report.md"), "utf8")).toContain("Navigation: per-step accuracy along compute");
  });
  it("runs GP-VL (image prompts) and writes its rows beside the paper's GP-VL numbers, with card recognition", () => {
    for (const arm of ["vl-sft-init", "vl-ppo", "vl-sft"]) expect(openRun(join(runDir, "arms", arm)).meta().status).toBe("completed");
    const results = readFileSync(join(runDir, "results.md"), "utf8");
    expect(results).toContain("### SFT vs RL on GeneralPoints-VL (cards shown as an image) (tiny preset)");
    const rule = results.split("\n").find((l) => l.startsWith("| GP-VL rule OOD |"))!;
    expect(rule).toContain(`| ${PAPER_GP_VL.init} | ${PAPER_GP_VL.rl} (+3.0) | ${PAPER_GP_VL.sft} (-5.6) |`);
    const vis = results.split("\n").find((l) => l.startsWith("| GP-VL visual OOD |"))!;
    expect(vis).toContain(`| ${PAPER_GP_VL.visual.init} | ${PAPER_GP_VL.visual.rl} (+17.6) | ${PAPER_GP_VL.visual.sft} (-9.9) |`);
    for (const r of ["| card recognition, in-distribution |", "| card recognition, visual OOD |", `| ${GP_VL_VISUAL_CLAIMS.recogRl.paper} |`]) expect(results).toContain(r);
    const vl = task("general-points-vl");
    for (const k of ["idSuccess", "oodSuccess", "visSuccess", "visStdErr", "idRecognition", "oodRecognition", "visRecognition", "idParsed"]) {
      expect(Number.isFinite(vl.init.row[k])).toBe(true);
      expect(vl.init.row[k]).toBeGreaterThanOrEqual(0);
    }
    expect(claimsOf("vl-").length).toBe(9);
    expect(vl.sft.points.length).toBe(vl.ppo.points.length);
    // Card recognition is tracked at every evaluation point of both branches.
    const ppoRows = openRun(join(runDir, "arms", "vl-ppo")).metrics<Record<string, number>>().filter((r) => typeof r.idSuccess === "number");
    const sftRows = openRun(join(runDir, "arms", "vl-sft")).metrics<Record<string, number>>().filter((r) => typeof r.idSuccess === "number");
    expect(ppoRows.length).toBe(3);
    expect(sftRows.length).toBeGreaterThanOrEqual(1);
    for (const r of [...ppoRows, ...sftRows]) for (const k of ["idRecognition", "oodRecognition", "visRecognition", "visSuccess"]) expect(Number.isFinite(r[k])).toBe(true);
    for (const r of ppoRows.filter((x) => x.update > 0)) for (const k of ["policyLoss", "valueLoss", "approxKL"]) expect(Number.isFinite(r[k])).toBe(true);
    expect(readFileSync(join(runDir, "report.md"), "utf8")).toContain("GP-VL: Success along compute");
  });
  it("logs PPO FLOPs that grow along updates and evaluates SFT at matching FLOPs (each branch counted alone)", () => {
    const gp = task("general-points");
    const f = gp.ppo.points.map((p) => p.flops);
    expect(f[0]).toBe(0);
    expect(gp.sft.points[0].flops).toBe(0);
    for (let i = 1; i < f.length; i++) expect(f[i]).toBeGreaterThan(f[i - 1]);
    expect(gp.sft.points.length).toBe(gp.ppo.points.length);
    expect(f.at(-1)).toBe(gp.ppo.flops);
    const ppoLast = f[f.length - 1];
    const sftLast = gp.sft.points[gp.sft.points.length - 1].flops;
    expect(Math.abs(sftLast - ppoLast) / ppoLast).toBeLessThan(0.35);
    const rows = openRun(join(runDir, "arms", "ppo")).metrics<Record<string, number>>().filter((r) => r.update > 0);
    expect(rows.length).toBe(2);
    for (const r of rows) for (const k of ["policyLoss", "valueLoss", "clipFrac", "approxKL", "meanStepReward"]) expect(Number.isFinite(r[k])).toBe(true);
    // KL to the init on ID prompts at every branch checkpoint, at the PPO rollout temperature, named in the report.
    const T = sftVsRlExperiment.presets.tiny.sampling.temperature;
    for (const p of [...gp.ppo.points, ...gp.sft.points].filter((q) => q.step > 0)) {
      expect(p.row.idKLRoll).toBeGreaterThanOrEqual(0);
      expect(p.row.idKLTemperature).toBe(T);
    }
    expect(readFileSync(join(runDir, "report.md"), "utf8")).toContain(`KL to the init on ID prompts, answers at T ${T} (nats)`);
  });
  it("keeps finished arms on resume", async () => {
    const logs: string[] = [];
    const ctx = { ...quietContext(openRun(runDir), { resume: true }), log: (m: string) => logs.push(m) };
    await sftVsRlExperiment.run(sftVsRlExperiment.presets.tiny, ctx);
    expect(logs.filter((l) => /already completed, kept/.test(l)).length).toBe(11);
  }, 120_000);
});

describe("batched episodes and serving", () => {
  it("plays the same episodes as runEpisode with the same policy (greedy)", async () => {
    const policy = loadPolicy(runDir, "sft-init");
    const seeds = [episodeSeed(42, "general-points", "ood", 0), episodeSeed(42, "general-points", "ood", 1)];
    const batched = await evaluateLM({ params: policy.lm, cfg: policy.model, tok: policy.tok, makeEnv: () => gpEnv("ood", 5), seeds, batch: 1, sampling: { ...policy.sampling, temperature: 0 }, rng: new Rng(0), keepRecords: 2 });
    for (const [i, s] of seeds.entries()) {
      const ref = await runEpisode(gpEnv("ood", 5), (m) => completeChat(policy, m, { temperature: 0, rng: new Rng(0) }).then((r) => r.content), s);
      expect(batched.records[i].conversations.map((c) => c.map((m) => m.content))).toEqual(ref.conversations.map((c) => c.map((m) => m.content)));
      expect(batched.records[i].totalReward).toBe(ref.totalReward);
      expect(batched.records[i].success).toBe(ref.success);
    }
    disposePolicy(policy);
  }, 60_000);
  it("plays the same navigation routes as runEpisode with the same policy (greedy)", async () => {
    const policy = loadPolicy(runDir, "nav-sft-init");
    const nav = sftVsRlExperiment.presets.tiny.navigation;
    const budget = policy.model.contextLength - nav.maxNewTokens;
    const seeds = [episodeSeed(42, "navigation", "ood", 0), episodeSeed(42, "navigation", "id", 1)];
    const splits = ["ood", "id"] as const;
    for (const [i, s] of seeds.entries()) {
      const sampling = { ...policy.sampling, maxNewTokens: nav.maxNewTokens, temperature: 0 };
      const batched = await evaluateLM({ params: policy.lm, cfg: policy.model, tok: policy.tok, makeEnv: () => navEnv(splits[i], 2, policy.tok, budget), seeds: [s], batch: 1, sampling, rng: new Rng(0), keepRecords: 1 });
      const ref = await runEpisode(navEnv(splits[i], 2, policy.tok, budget), (m) => completeChat(policy, m, { temperature: 0, rng: new Rng(0) }).then((r) => r.content), s);
      expect(batched.records[0].conversations.map((c) => c.map((m) => m.content))).toEqual(ref.conversations.map((c) => c.map((m) => m.content)));
      expect(batched.records[0].totalReward).toBe(ref.totalReward);
      expect(batched.perStepAccuracy).toBe(ref.gradedSteps ? ref.correctSteps / ref.gradedSteps : 0);
    }
    disposePolicy(policy);
  }, 60_000);
  it("validates chat requests with errors that name the field", () => {
    expect(parseChatRequest({})).toMatch(/messages must be a non-empty array/);
    expect(parseChatRequest({ messages: [{ role: "bot", content: "x" }] })).toMatch(/messages\[0\]\.role/);
    expect(parseChatRequest({ messages: [{ role: "user", content: "x" }], max_tokens: 0 })).toMatch(/max_tokens/);
    expect(parseChatRequest({ messages: [{ role: "system", content: "s" }, { role: "user", content: [{ type: "text", text: "hi" }] }] })).toEqual({ messages: [{ role: "user", content: "hi" }], temperature: undefined, maxTokens: undefined });
  });
  it("`tinyfoundry serve` answers on loopback and the harness client scores it", async () => {
    const bin = join(process.cwd(), "bin", "tinyfoundry.js");
    server = spawn(process.execPath, [bin, "serve", runDir, "--port", "0", "--arm", "ppo", "--model", "tiny-ppo"], { stdio: ["ignore", "pipe", "pipe"] });
    const baseUrl = await new Promise<string>((res, rej) => {
      let out = "";
      let err = "";
      server!.stdout!.on("data", (d) => {
        out += String(d);
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
        if (m) res(m[1]);
      });
      server!.stderr!.on("data", (d) => (err += String(d)));
      server!.on("exit", (code) => rej(new Error(`serve exited with ${code}: ${err}`)));
    });
    const client = createChatClient({ baseUrl, model: "tiny-ppo", temperature: 0, retries: 0 });
    const { results, transcripts } = await evaluate({ env: "general-points", splits: ["id"], episodes: 2, policy: () => chatPolicy(client) });
    expect(results[0].episodes).toBe(2);
    expect(results[0].successRate).toBeGreaterThanOrEqual(0);
    // The served answers are the policy's own greedy answers.
    const local = loadPolicy(runDir, "ppo");
    const first = transcripts[0].conversations[0];
    const mine = await completeChat(local, [first[0]], { temperature: 0, rng: new Rng(0) });
    expect(first[1].content).toBe(mine.content);
    disposePolicy(local);
    const bad = await fetch(baseUrl + "/chat/completions", { method: "POST", body: "{" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
  }, 90_000);
});
