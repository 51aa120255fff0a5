/**
 * Progress display owned by the CLI: a one-line bar on a terminal (step, fields, rate, ETA), plain
 * log lines when output is not a terminal (CI logs, files). Library code reports progress through
 * callbacks; the CLI passes them here.
 */
import type { ProgressEvent } from "../train/loop.js";
import type { SuiteEvent } from "../suite/reproduce.js";
import { suiteEtaSeconds } from "../suite/budget.js";
import type { PresetName } from "../train/experiment.js";

export type ProgressFields = Record<string, string | number>;

export type ProgressOptions = {
  total: number;
  label: string;
  stream?: NodeJS.WriteStream;
  /** Plain mode: minimum seconds between lines (the last step always prints). */
  logEverySec?: number;
  /** Force plain or bar mode (default: bar when the stream is a TTY). */
  tty?: boolean;
  /** Silence everything (library tests). */
  quiet?: boolean;
};

export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "…";
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

function fmtValue(v: string | number): string {
  if (typeof v === "string") return v;
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(4);
}

export class Progress {
  private readonly start = Date.now();
  private lastLog = 0;
  private firstStep: number | null = null;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private lastLen = 0;
  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
  }
  update(step: number, fields: ProgressFields = {}): void {
    if (this.opts.quiet) return;
    if (this.firstStep === null) this.firstStep = step - 1;
    const now = Date.now();
    const elapsed = (now - this.start) / 1000;
    const done = step - this.firstStep;
    const rate = done / Math.max(elapsed, 1e-9);
    // No ETA from a single step (the first one includes compilation): "…" until two have run.
    const eta = done >= 2 && elapsed >= 0.5 ? (this.opts.total - step) / Math.max(rate, 1e-9) : NaN;
    const pct = Math.min(1, step / Math.max(1, this.opts.total));
    const kv = Object.entries(fields)
      .map(([k, v]) => `${k} ${fmtValue(v)}`)
      .join(" | ");
    if (this.tty) {
      const width = 24;
      const fill = Math.round(pct * width);
      const bar = "█".repeat(fill) + "░".repeat(width - fill);
      const line = `${this.opts.label} ${bar} ${step}/${this.opts.total} ${kv} | ETA ${fmtDuration(eta)}`;
      const cols = this.stream.columns ?? 120;
      const clipped = line.length > cols - 1 ? line.slice(0, cols - 1) : line;
      this.stream.write(`\r${clipped}${" ".repeat(Math.max(0, this.lastLen - clipped.length))}`);
      this.lastLen = clipped.length;
    } else {
      const every = (this.opts.logEverySec ?? 5) * 1000;
      if (now - this.lastLog < every && step < this.opts.total) return;
      this.lastLog = now;
      this.stream.write(`${this.opts.label} step ${step}/${this.opts.total}: ${kv} | elapsed ${fmtDuration(elapsed)} | ETA ${fmtDuration(eta)}\n`);
    }
  }
  /** A message that must not be overwritten by the bar (evaluation results, warnings). */
  log(message: string): void {
    if (this.opts.quiet) return;
    if (this.tty && this.lastLen > 0) {
      this.stream.write(`\r${" ".repeat(this.lastLen)}\r`);
      this.lastLen = 0;
    }
    this.stream.write(message + "\n");
  }
  done(message?: string): void {
    if (this.opts.quiet) return;
    if (this.tty && this.lastLen > 0) this.stream.write("\n");
    this.lastLen = 0;
    if (message) this.stream.write(message + "\n");
  }
}

/** Three significant digits (integers as they are). */
function sig3(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : Number(v.toPrecision(3)).toString();
}

const KEY_METRICS = /val|loss|acc|success|fid|cer|kl|fd\b|nll/i;

/** The few evaluation metrics worth a line (validation losses and rates first), rounded; null when none. */
export function formatEval(metrics: Record<string, number>, max = 4): string | null {
  const entries = Object.entries(metrics).filter(([, v]) => typeof v === "number");
  if (!entries.length) return null;
  const key = entries.filter(([k]) => KEY_METRICS.test(k));
  const pick = (key.length ? key : entries).slice(0, max);
  const more = entries.length - pick.length;
  return pick.map(([k, v]) => `${k} ${sig3(v)}`).join(", ") + (more > 0 ? ` (+${more} more in metrics.jsonl)` : "");
}

/** The latest validation-like metric of an eval event, for the bar ("val 1.76"). */
export function latestVal(metrics: Record<string, number>): string | null {
  const k = Object.keys(metrics).find((x) => /^val/i.test(x)) ?? Object.keys(metrics).find((x) => KEY_METRICS.test(x));
  return k ? `${k} ${sig3(metrics[k])}` : null;
}

/** Fields of a training-step bar: loss, learning rate, latest validation metric, tokens/s. */
export function stepFields(e: Extract<ProgressEvent, { kind: "step" }>, val: string | null): ProgressFields {
  return { loss: Number(e.loss.toPrecision(4)), lr: e.lr, ...(val ? { val: val.replace(/^\S+ /, "") } : {}), "tok/s": Math.round(e.tokensPerSec) };
}

/**
 * The reproduction suite's display: an overall line per experiment (k/n, suite elapsed including
 * earlier attempts, suite ETA from the budget table scaled by finished work), then one bar per arm
 * with loss, lr and the latest validation metric, whose label carries the suite ETA.
 */
export class SuiteDisplay {
  private bar: Progress | null = null;
  private barKey = "";
  private val: string | null = null;
  private runningName: string | null = null;
  private runningSince = 0;
  private priorSeconds = 0;
  private state: Extract<SuiteEvent, { kind: "experiment" }>["state"] | null = null;
  constructor(
    private readonly preset: PresetName,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}
  log(m: string): void {
    if (this.bar) this.bar.log(m);
    else this.stream.write(m + "\n");
  }
  private runningSeconds(): number {
    return this.runningName ? this.priorSeconds + (Date.now() - this.runningSince) / 1000 : 0;
  }
  /** Suite seconds spent so far over every attempt: finished entries plus the running one. */
  elapsedSeconds(): number {
    const st = this.state;
    if (!st) return 0;
    return st.entries.filter((e) => e.name !== this.runningName).reduce((a, e) => a + e.wallSeconds, 0) + this.runningSeconds();
  }
  etaText(): string {
    if (!this.state) return "…";
    const eta = suiteEtaSeconds(this.preset, this.state.entries, this.runningName ? { name: this.runningName, seconds: this.runningSeconds() } : null);
    return eta === null ? "unknown" : `~${fmtDuration(eta)}`;
  }
  handle(e: SuiteEvent): void {
    if (e.kind === "experiment") {
      this.bar?.done();
      this.bar = null;
      this.state = e.state;
      if (e.status === "start") {
        this.runningName = e.name;
        this.runningSince = Date.now();
        this.priorSeconds = e.priorSeconds ?? 0;
        this.val = null;
      } else this.runningName = null;
      const what = e.status === "start" ? (this.priorSeconds > 0 ? `resuming (${fmtDuration(this.priorSeconds)} done before)` : "running") : e.status === "skip" ? "already completed, kept" : "done";
      this.log(`[${e.index + 1}/${e.count}] ${e.name}: ${what} | suite elapsed ${fmtDuration(this.elapsedSeconds())} | suite ETA ${this.etaText()}`);
      return;
    }
    const ev = e.event;
    if (ev.kind === "step") {
      const key = `${e.name}/${e.arm ?? ""}`;
      if (!this.bar || this.barKey !== key) {
        this.bar?.done();
        this.bar = new Progress({ total: ev.total, label: `[${e.index + 1}/${e.count}] ${key.replace(/\/$/, "")}`, stream: this.stream });
        this.barKey = key;
      }
      this.bar.update(ev.step, { ...stepFields(ev, this.val), suite: `ETA ${this.etaText()}` });
      if (ev.step === ev.total) {
        this.bar.done();
        this.bar = null;
      }
    } else if (ev.kind === "eval") {
      this.val = latestVal(ev.metrics);
      const line = formatEval(ev.metrics);
      if (line) this.log(`  ${e.name}${e.arm ? `/${e.arm}` : ""} eval @${ev.step}: ${line}`);
    } else if (ev.kind === "message") this.log(`  ${e.name}: ${ev.text}`);
  }
  done(): void {
    this.bar?.done();
    this.bar = null;
  }
}
