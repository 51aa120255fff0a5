/**
 * Progress display owned by the CLI: a one-line bar on a terminal (step, fields, rate, ETA), plain
 * log lines when output is not a terminal (CI logs, files). Library code reports progress through
 * callbacks; the CLI passes them here.
 */
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

function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "?";
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
    const eta = (this.opts.total - step) / Math.max(rate, 1e-9);
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
