/**
 * `tinyfoundry fp4 quantize`: see what FP4 (arXiv 2501.17116) does to your numbers. Reads JSON
 * lines `{"x": [[...], ...], "granularity": "token" | "channel" | "tensor", "clampQuantile": 0.99,
 * "compensate": true}` (the last two optional; also `format` and `pow2Scale`) from a file or
 * standard input and writes one line `{"q": [[...], ...], "sim": ..., "mse": ..., "snrDb": ...}`
 * per input line, with the same code the FP4 training uses.
 */
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { z } from "zod";
import { initEngine, np } from "../engine/index.js";
import { FP4_FORMATS, GRANULARITIES, fp4QuantizeValue } from "../papers/fp4-training/model.js";
import { fidelity } from "../papers/fp4-training/metrics.js";
import { ConfigError } from "../train/config.js";

/** Bad input: one line on stderr, exit code 2 (as every config error). */
export class FP4InputError extends ConfigError {}

const lineSchema = z
  .object({
    /** A matrix: rows are tokens (token-wise scales), columns are channels (channel-wise scales). */
    x: z.array(z.array(z.number().finite()).min(1)).min(1),
    granularity: z.enum(GRANULARITIES),
    /** α of the outlier clamp (OCC); absent: no clamp. */
    clampQuantile: z.number().gt(0.5).max(1).optional(),
    /** Add the clamp residual back (OCC's compensation); default true when clamping. */
    compensate: z.boolean().optional(),
    format: z.enum(FP4_FORMATS).optional(),
    pow2Scale: z.boolean().optional(),
  })
  .strict();

export type QuantizeRequest = z.infer<typeof lineSchema>;
export type QuantizeResponse = { q: number[][]; sim: number | null; mse: number; snrDb: number | null };

/** The shortest decimal that reads back as the same float32 (0.1 rather than 0.10000000149011612). */
export function shortF32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}

/** Parse and validate one input line (throws FP4InputError with a one-line message). */
export function parseQuantizeLine(line: string): QuantizeRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new FP4InputError("not valid JSON");
  }
  const r = lineSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    const path = i.path.join(".") || "line";
    if (i.code === "unrecognized_keys") throw new FP4InputError(`unknown key(s) ${i.keys.join(", ")}; allowed: x, granularity, clampQuantile, compensate, format, pow2Scale`);
    if (i.code === "invalid_enum_value") throw new FP4InputError(`${path} is ${JSON.stringify(i.received)}; expected one of ${i.options.map((o) => JSON.stringify(o)).join(", ")}`);
    if (path === "clampQuantile") throw new FP4InputError("clampQuantile must be a number in (0.5, 1]");
    if (path.startsWith("x")) throw new FP4InputError(`x must be a non-empty matrix of finite numbers (${i.message} at ${path})`);
    throw new FP4InputError(`${path}: ${i.message}`);
  }
  const cols = r.data.x[0].length;
  const bad = r.data.x.findIndex((row) => row.length !== cols);
  if (bad >= 0) throw new FP4InputError(`x must be rectangular: row 0 has ${cols} values, row ${bad} has ${r.data.x[bad].length}`);
  if (r.data.compensate !== undefined && r.data.clampQuantile === undefined) throw new FP4InputError("compensate needs clampQuantile (there is no residual without a clamp)");
  return r.data;
}

/** Quantize one request with the training code (the engine must be started). */
export async function quantizeRequest(req: QuantizeRequest): Promise<QuantizeResponse> {
  const rows = req.x.length;
  const cols = req.x[0].length;
  const flat = Float32Array.from(req.x.flat());
  const clamp = req.clampQuantile === undefined ? "none" : req.compensate === false ? "clamp" : "compensate";
  const v = fp4QuantizeValue(np.array(flat).reshape([rows, cols]), {
    format: req.format ?? "e2m1",
    granularity: req.granularity,
    pow2Scale: req.pow2Scale ?? false,
    clamp,
    quantile: req.clampQuantile ?? 0.99,
  });
  const q = (await v.data()) as Float32Array;
  const f = fidelity(flat, q);
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) out.push(Array.from(q.subarray(i * cols, (i + 1) * cols), shortF32));
  return { q: out, sim: Number.isFinite(f.sim) ? f.sim : null, mse: f.mse, snrDb: Number.isFinite(f.snrDb) ? f.snrDb : null };
}

export function registerFP4Commands(program: Command): void {
  const fp4 = program.command("fp4").description("FP4 quantization (arXiv 2501.17116) on your own numbers");
  fp4
    .command("quantize")
    .argument("[file]", "a JSON-lines file (default: standard input)")
    .description(
      'read JSON lines {"x":[[...],...],"granularity":"token"|"channel"|"tensor","clampQuantile":0.99,"compensate":true} and write {"q":[[...],...],"sim":...,"mse":...,"snrDb":...} per line (E2M1, absmax scales; optional "format":"e2m1"|"e1m2"|"e3m0" and "pow2Scale":true; snrDb is null when q equals x)',
    )
    .action(async (file: string | undefined) => {
      if (file && file !== "-" && !existsSync(file)) throw new FP4InputError(`file not found: ${file}`);
      await initEngine();
      const input = file && file !== "-" ? createReadStream(file, "utf8") : process.stdin;
      const rl = createInterface({ input, crlfDelay: Infinity });
      let n = 0;
      for await (const line of rl) {
        n++;
        if (!line.trim()) continue;
        let req: QuantizeRequest;
        try {
          req = parseQuantizeLine(line);
        } catch (e) {
          throw new FP4InputError(`fp4 quantize: line ${n}: ${(e as Error).message}`);
        }
        process.stdout.write(JSON.stringify(await quantizeRequest(req)) + "\n");
      }
    });
}
