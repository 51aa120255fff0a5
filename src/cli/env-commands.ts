/**
 * CLI verbs for the environments of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, §4.1-4.2):
 *   env general-points verify|solve|sample, env navigation verify|solve|sample  (JSON lines in, one JSON line out)
 *   eval general-points|navigation --policy oracle|random|openai ...              (success ± SE per split, transcripts)
 * Malformed input lines get `{"error": "..."}` naming the field and the allowed values, never a stack trace.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { z } from "zod";
import { createRun, makeDirs } from "../train/run-dir.js";
import { Progress } from "./progress.js";
import { DEFAULT_BASE_URL } from "./defaults.js";
import { checkOutDir, probeServer } from "./preflight.js";
import { appendJsonLine } from "../util/atomic.js";
import {
  CARD_NAMES, cardValue, chatPolicy, createChatClient, evaluate, formatSplitResult, GeneralPointsEnv, makeHand, NavigationEnv,
  oraclePolicy, parseCardName, POLICY_NAMES, pointObservation, randomPolicy, renderHand, solutionsFor, SPLITS, verifyAnswer, verifyNavigation,
  type EnvName, type Policy, type Split,
} from "../envs/index.js";

const cardSchema = z.union([z.string(), z.number()]).refine((c) => parseCardName(c) !== null, { message: `each card must be one of ${CARD_NAMES.join(", ")} (or T, or a rank 1-13)` });
const cardsField = z.array(cardSchema).length(4, { message: "cards must list exactly 4 cards" });
const ruleField = z.enum(["id", "ood"]).default("id");
const targetField = z.number().int().min(-1_000_000).max(1_000_000).default(24);
const gpVerifySchema = z.object({ cards: cardsField, rule: ruleField, answer: z.string(), recognized: z.array(z.string()).optional(), vision: z.boolean().optional(), target: targetField });
const gpSolveSchema = z.object({ cards: cardsField, rule: ruleField, target: targetField });
const navSplit = z.enum(["id", "ood", "visual-ood"]).default("id");
const navVerifySchema = z.union([
  z.object({ answer: z.string(), gtAction: z.string(), gtObservation: z.string() }),
  z.object({ answer: z.string(), split: navSplit, seed: z.number().int(), point: z.number().int().min(0) }),
]);
const navSolveSchema = z.object({ split: navSplit, seed: z.number().int() });

/** Turn a zod error into one line naming fields and allowed values. */
export function describeZodError(e: z.ZodError): string {
  return e.issues
    .map((i) => {
      if (i.code === "invalid_union") {
        return `expected either {"answer","gtAction","gtObservation"} or {"answer","split","seed","point"}: ${i.unionErrors.map((u) => u.issues.map((x) => `${x.path.join(".") || "(root)"}: ${x.message}`).join("; ")).join(" | ")}`;
      }
      return `${i.path.join(".") || "(root)"}: ${i.message}`;
    })
    .join("; ");
}

/** Read JSON lines from stdin; write exactly one JSON line per input line. */
async function jsonLines(handle: (input: unknown) => unknown): Promise<void> {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    let out: unknown;
    try {
      if (line.trim() === "") out = { error: "empty input line: expected one JSON object" };
      else {
        let input: unknown;
        try {
          input = JSON.parse(line);
        } catch {
          input = undefined;
          out = { error: "input line is not valid JSON: expected one JSON object per line" };
        }
        if (out === undefined) out = handle(input);
      }
    } catch (e) {
      out = { error: e instanceof z.ZodError ? describeZodError(e) : (e as Error).message };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
}

function gpHand(cards: (string | number)[], rule: "id" | "ood", target: number) {
  return makeHand(cards.map((c) => parseCardName(c)!), rule, target);
}

function parseIntOpt(name: string, min: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

function parseSplits(v: string): Split[] {
  const xs = v === "all" ? [...SPLITS] : v.split(",").map((s) => s.trim());
  for (const s of xs) if (!SPLITS.includes(s as Split)) throw new Error(`--split must be one of ${SPLITS.join(", ")}, all, or a comma list; got ${JSON.stringify(s)}`);
  return xs as Split[];
}

function fail(msg: string): never {
  process.stderr.write(`error: ${msg}\n`);
  process.exit(1);
}

/** Add the `env` and `eval` command groups to a commander program. */
export function registerEnvCommands(program: Command): void {
  const env = program.command("env").description("environments of 'SFT Memorizes, RL Generalizes' (2501.17161): JSON lines on stdin/stdout");
  const gp = env.command("general-points").description("GeneralPoints (24-points card game) verifier, solver and sampler");
  gp.command("verify")
    .description('stdin: {"cards":["A","3","K","6"],"rule":"id","answer":"...", "recognized"?:[...], "vision"?:bool, "target"?:24} -> {"reward","feedback"}')
    .action(async () => {
      await jsonLines((input) => {
        const q = gpVerifySchema.parse(input);
        const hand = gpHand(q.cards, q.rule, q.target);
        const r = verifyAnswer(hand, q.answer, { vision: q.vision, recognized: q.recognized });
        return { reward: r.reward, feedback: r.feedback, formula: r.parsed.formula };
      });
    });
  gp.command("solve")
    .description('stdin: {"cards":[...],"rule":"ood","target"?:24} -> {"solvable","solutions"}')
    .action(async () => {
      await jsonLines((input) => {
        const q = gpSolveSchema.parse(input);
        const values = q.cards.map((c) => cardValue(parseCardName(c)!, q.rule));
        const solutions = solutionsFor(values, q.target);
        return { solvable: solutions.length > 0, values, solutions };
      });
    });
  gp.command("sample")
    .description("deal solvable hands with their prompts (PNG paths for vision splits)")
    .option("--split <split>", "id | ood | visual-ood", "id")
    .option("--n <n>", "number of hands", parseIntOpt("n", 1), 5)
    .option("--seed <seed>", "seed", parseIntOpt("seed", 0), 1)
    .option("--vision", "vision-language variant for id/ood", false)
    .option("--image-size <px>", "table image side", parseIntOpt("image-size", 40), 1200)
    .option("--out <dir>", "folder for PNG images (vision)", "runs/samples/general-points")
    .action((o: { split: string; n: number; seed: number; vision: boolean; imageSize: number; out: string }) => {
      const [split] = parseSplits(o.split);
      const e = new GeneralPointsEnv({ split, variant: o.vision ? "vision" : "language", imageSize: o.imageSize });
      for (let i = 0; i < o.n; i++) {
        const seed = o.seed * 1_000_003 + i;
        const obs = e.reset(seed);
        const h = e.currentHand;
        const row: Record<string, unknown> = { split, seed, cards: h.cards.map((c, k) => `${c.suit}${h.names[k]}`), names: h.names, values: h.values, rule: h.rule, solutions: e.currentSolutions.length, prompt: obs.text };
        if (obs.image) {
          makeDirs(o.out);
          const p = resolve(join(o.out, `gp-${split}-${seed}.png`));
          writeFileSync(p, renderHand(h.cards, { size: o.imageSize }).toPNG());
          row.image = p;
        }
        process.stdout.write(JSON.stringify(row) + "\n");
      }
    });

  const nav = env.command("navigation").description("synthetic-city navigation (V-IRL analogue): verifier, expert routes, sampler");
  nav.command("verify")
    .description('stdin: {"answer","gtAction","gtObservation"} or {"answer","split","seed","point"} -> {"reward","feedback"}')
    .action(async () => {
      await jsonLines((input) => {
        const q = navVerifySchema.parse(input);
        if ("gtAction" in q) {
          const r = verifyNavigation(q.answer, q.gtAction, q.gtObservation);
          return { reward: r.reward, feedback: r.feedback };
        }
        const e = new NavigationEnv({ split: q.split });
        e.reset(q.seed);
        const rail = e.currentRoute.rail;
        if (q.point >= rail.length) throw new Error(`point: must be in 0..${rail.length - 1} for this route, got ${q.point}`);
        const p = rail[q.point];
        const gt = e.actionSpace === "absolute" ? p.absoluteAction : p.relativeAction;
        const r = verifyNavigation(q.answer, gt, pointObservation(p));
        return { reward: r.reward, feedback: r.feedback, gtAction: gt };
      });
    });
  nav.command("solve")
    .description('stdin: {"split":"id","seed":3} -> the route\'s instruction and expert action at every point')
    .action(async () => {
      await jsonLines((input) => {
        const q = navSolveSchema.parse(input);
        const e = new NavigationEnv({ split: q.split });
        e.reset(q.seed);
        const r = e.currentRoute;
        return { split: q.split, seed: q.seed, sentences: r.sentences, actions: r.rail.map((p) => (e.actionSpace === "absolute" ? p.absoluteAction : p.relativeAction)), observations: r.rail.map(pointObservation) };
      });
    });
  nav.command("sample")
    .description("draw routes with their first prompt (PNG grid paths for vision splits)")
    .option("--split <split>", "id | ood | visual-ood", "id")
    .option("--n <n>", "number of routes", parseIntOpt("n", 1), 5)
    .option("--seed <seed>", "seed", parseIntOpt("seed", 0), 1)
    .option("--vision", "vision variant for id/ood", false)
    .option("--out <dir>", "folder for PNG images (vision)", "runs/samples/navigation")
    .action((o: { split: string; n: number; seed: number; vision: boolean; out: string }) => {
      const [split] = parseSplits(o.split);
      const e = new NavigationEnv({ split, vision: o.vision });
      for (let i = 0; i < o.n; i++) {
        const seed = o.seed * 1_000_003 + i;
        const obs = e.reset(seed);
        const r = e.currentRoute;
        const row: Record<string, unknown> = { split, seed, sentences: r.sentences, points: r.rail.length, expertActions: r.rail.map((p) => (e.actionSpace === "absolute" ? p.absoluteAction : p.relativeAction)), prompt: obs.text };
        if (obs.image) {
          makeDirs(o.out);
          const p = resolve(join(o.out, `nav-${split}-${seed}-p0.png`));
          writeFileSync(p, obs.image);
          row.image = p;
        }
        process.stdout.write(JSON.stringify(row) + "\n");
      }
    });

  program
    .command("eval")
    .description("score a policy on general-points or navigation: success rate ± standard error per split, transcripts as JSONL")
    .argument("<env>", "general-points | navigation")
    .option("--policy <name>", "oracle | random | openai", "oracle")
    .option("--split <splits>", "id, ood, visual-ood, a comma list, or all", "id,ood")
    .option("--episodes <n>", "episodes per split", parseIntOpt("episodes", 1), 50)
    .option("--base-url <url>", "OpenAI-compatible server base URL (with /v1); `tinyfoundry serve` listens on the default", DEFAULT_BASE_URL)
    .option("--model <name>", "model name sent to the server (default: the first one its /v1/models lists)")
    .option("--api-key <key>", "bearer token (or OPENAI_API_KEY)")
    .option("--temperature <t>", "sampling temperature (server default when omitted)")
    .option("--max-tokens <n>", "max_tokens per answer", parseIntOpt("max-tokens", 1), 256)
    .option("--seed <n>", "seed", parseIntOpt("seed", 0), 42)
    .option("--verify-iter <n>", "graded attempts (GP: per episode, default 5; navigation: per point, default 2)", parseIntOpt("verify-iter", 1))
    .option("--vision", "vision variant for id/ood (images sent to the server)", false)
    .option("--out <dir>", "runs root", "runs")
    .action(async (envName: string, o: { policy: string; split: string; episodes: number; baseUrl: string; model?: string; apiKey?: string; temperature?: string; maxTokens: number; seed: number; verifyIter?: number; vision: boolean; out: string }) => {
      if (envName !== "general-points" && envName !== "navigation") fail(`<env> must be one of general-points, navigation; got ${JSON.stringify(envName)}`);
      if (!POLICY_NAMES.includes(o.policy as never)) fail(`--policy must be one of ${POLICY_NAMES.join(", ")}; got ${JSON.stringify(o.policy)}`);
      let splits: Split[];
      try {
        splits = parseSplits(o.split);
      } catch (e) {
        fail((e as Error).message);
      }
      const temperature = o.temperature === undefined ? undefined : Number(o.temperature);
      if (temperature !== undefined && !Number.isFinite(temperature)) fail(`--temperature must be a number, got ${JSON.stringify(o.temperature)}`);
      // Checked before the run directory exists: the output folder and, for a server, that it answers.
      checkOutDir(o.out);
      let model = o.model ?? "default";
      if (o.policy === "openai") {
        const served = await probeServer(o.baseUrl, { apiKey: o.apiKey ?? process.env.OPENAI_API_KEY });
        if (o.model === undefined && served.length > 0) model = served[0];
      }
      const config = { env: envName, policy: o.policy, splits, episodes: o.episodes, seed: o.seed, verifyIter: o.verifyIter ?? null, vision: o.vision, ...(o.policy === "openai" ? { baseUrl: o.baseUrl, model, temperature: temperature ?? null, maxTokens: o.maxTokens } : {}) };
      const run = createRun({ experiment: `eval-${envName}`, seed: o.seed, config, root: o.out });
      const progress = new Progress({ total: o.episodes * splits.length, label: `eval ${envName} ${o.policy}` });
      let policyFor: (e: import("../envs/index.js").Env) => Policy;
      if (o.policy === "oracle") policyFor = oraclePolicy;
      else if (o.policy === "random") policyFor = (e) => randomPolicy(e, o.seed);
      else {
        const client = createChatClient({ baseUrl: o.baseUrl, model, apiKey: o.apiKey ?? process.env.OPENAI_API_KEY, temperature, maxTokens: o.maxTokens });
        policyFor = () => chatPolicy(client);
      }
      const transcriptsPath = run.path("transcripts.jsonl");
      try {
        const { results } = await evaluate({
          env: envName as EnvName,
          splits,
          episodes: o.episodes,
          seed: o.seed,
          policy: policyFor,
          envOptions: { vision: o.vision, verifyIter: o.verifyIter, imageSize: 336 },
          onEpisode: (t, running, done) => {
            appendJsonLine(transcriptsPath, t);
            run.appendMetrics({ step: done, split: t.split, episode: t.episode, success: t.success, totalReward: t.totalReward, gradedSteps: t.gradedSteps, correctSteps: t.correctSteps });
            progress.update(done, { split: t.split, success: running.successRate, se: running.stdErr });
          },
        });
        progress.done();
        for (const r of results) process.stdout.write(formatSplitResult(r) + "\n");
        run.writeSummary({ results, transcripts: "transcripts.jsonl" });
        run.setStatus("completed");
        process.stdout.write(`run directory: ${run.dir}\n`);
      } catch (e) {
        progress.done();
        run.setStatus("failed", (e as Error).message);
        fail(`${(e as Error).message} (run directory: ${run.dir})`);
      }
    });
}
