/**
 * Run directories: `runs/<experiment>/<YYYYMMDD-HHMMSS>-s<seed>/` holding `config.json`,
 * `meta.json` (versions, git commit, machine, status), `metrics.jsonl`, `summary.json`,
 * `checkpoints/`, `samples/`: plain files any tracker can read. JSON files are written atomically.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, statfsSync } from "node:fs";
import { cpus, totalmem, platform, release, arch } from "node:os";
import { dirname, join, resolve } from "node:path";
import { appendJsonLine, writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";

export type RunStatus = "running" | "completed" | "failed" | "interrupted" | "diverged";

export type MachineInfo = { cpu: string; cores: number; memGiB: number; os: string; arch: string; node: string };

export type RunMeta = {
  experiment: string;
  seed: number;
  status: RunStatus;
  message?: string;
  createdAt: string;
  updatedAt: string;
  versions: Record<string, string>;
  gitCommit: string | null;
  /** Tracked files differed from `gitCommit` when the run started (the run's code is not that commit's); null outside git. */
  gitDirty?: boolean | null;
  machine: MachineInfo;
  [k: string]: unknown;
};

/**
 * The CPU's name with its family and model numbers from /proc/cpuinfo's first processor (Linux), e.g. "AMD EPYC
 * (family 26, model 2)": cloud machines report bare names ("AMD EPYC"), under which CPU generations with different
 * speeds look alike, so run timings could not be told apart. The bare name where cpuinfo lacks the fields.
 */
export function cpuLabel(model: string, cpuinfo: string): string {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? "";
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(\\d+)\\s*$`, "m").exec(first)?.[1];
  const fam = field("cpu family");
  const mod = field("model");
  return fam !== undefined && mod !== undefined ? `${model} (family ${fam}, model ${mod})` : model;
}

function readCpuinfo(): string {
  try {
    return platform() === "linux" ? readFileSync("/proc/cpuinfo", "utf8") : "";
  } catch {
    return "";
  }
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: cpuLabel(c[0]?.model?.trim() ?? "unknown", readCpuinfo()),
    cores: c.length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    arch: arch(),
    node: process.versions.node,
  };
}

export function gitCommit(cwd = process.cwd()): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return null;
  }
}

/** Whether tracked files differ from HEAD (untracked files such as `runs/` do not count); null outside a git checkout. */
export function gitDirty(cwd = process.cwd()): boolean | null {
  try {
    return execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, stdio: ["ignore", "pipe", "ignore"] }).toString().trim() !== "";
  } catch {
    return null;
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    return pkg.version;
  } catch {
    return "unknown";
  }
}

export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Filesystems that hold no files of ours (statfs magic numbers from Linux's magic.h). */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: "proc",
  0x62656572: "sysfs",
  0x1cd1: "devpts",
  0x27e0eb: "cgroup",
  0x63677270: "cgroup2",
  0x64626720: "debugfs",
  0x73636673: "securityfs",
  0x74726163: "tracefs",
  0x6165676c: "pstore",
  0xcafe4a11: "bpf",
  0x62656570: "configfs",
  0xde5e81e4: "efivarfs",
  0x42494e4d: "binfmt_misc",
  0x19800202: "mqueue",
  0x50495045: "pipefs",
  0x534f434b: "sockfs",
};

/** Why `dir` cannot hold run directories (a one-line reason naming the path), or null when it can. */
export function unwritableDirReason(dir: string): string | null {
  const abs = resolve(dir);
  let p = abs;
  // The nearest existing ancestor decides: it must be a folder on a real filesystem.
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  let st;
  try {
    st = statSync(p);
  } catch (e) {
    return `${p} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (!st.isDirectory()) return `${p} is a file, not a folder`;
  try {
    const fs = PSEUDO_FS[Number(statfsSync(p).type) >>> 0];
    if (fs) {
      let mount = p;
      while (dirname(mount) !== mount && PSEUDO_FS[Number(statfsSync(dirname(mount)).type) >>> 0] === fs) mount = dirname(mount);
      return `${dir} is on a ${fs} pseudo-filesystem (${mount}); choose a folder on a disk`;
    }
  } catch {
    /* statfs unsupported here: the mkdir below reports what goes wrong */
  }
  try {
    accessSync(p, constants.W_OK); // also EROFS on a read-only filesystem
  } catch (e) {
    return `${p} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return null;
}

/**
 * `mkdir -p` one component at a time. Node 20's recursive mkdirSync never returns on some
 * pseudo-filesystems (/proc), so this one checks the chain itself and fails with one line.
 */
export function makeDirs(dir: string): void {
  const abs = resolve(dir);
  if (existsSync(abs) && statSync(abs).isDirectory()) return;
  const why = unwritableDirReason(abs);
  if (why) throw new Error(`cannot create ${dir}: ${why}`);
  const missing: string[] = [];
  for (let p = abs; !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`cannot create ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
}

export class RunDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }
  get checkpointsDir(): string {
    return this.path("checkpoints");
  }
  get samplesDir(): string {
    const d = this.path("samples");
    makeDirs(d);
    return d;
  }
  readJson<T>(name: string): T {
    const p = this.path(name);
    const text = readFileSync(p, "utf8");
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`run directory: ${p} is not valid JSON`);
    }
  }
  writeJson(name: string, value: unknown): void {
    writeJsonAtomic(this.path(name), value);
  }
  config<T>(): T {
    return this.readJson<T>("config.json");
  }
  meta(): RunMeta {
    return this.readJson<RunMeta>("meta.json");
  }
  updateMeta(patch: Partial<RunMeta>): void {
    const m = { ...this.meta(), ...patch, updatedAt: new Date().toISOString() };
    this.writeJson("meta.json", m);
  }
  setStatus(status: RunStatus, message?: string): void {
    this.updateMeta(message === undefined ? { status } : { status, message });
  }
  appendMetrics(row: Record<string, unknown>): void {
    appendJsonLine(this.path("metrics.jsonl"), row);
  }
  /** Metrics rows; a torn last line (killed mid-write) is ignored. */
  metrics<T = Record<string, unknown>>(): T[] {
    const p = this.path("metrics.jsonl");
    if (!existsSync(p)) return [];
    const rows: T[] = [];
    for (const line of readFileSync(p, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        rows.push(JSON.parse(line) as T);
      } catch {
        /* torn line from a kill: dropped */
      }
    }
    return rows;
  }
  /**
   * Keep only metric rows with `step <= lastStep` (used on resume, so no row is duplicated), byte
   * for byte as written; a torn line from a kill is dropped. Atomic: a kill during the cut keeps
   * the old file whole.
   */
  truncateMetrics(lastStep: number): void {
    const p = this.path("metrics.jsonl");
    const lines = existsSync(p) ? readFileSync(p, "utf8").split("\n") : [];
    const keep: string[] = [];
    for (const line of lines) {
      if (!line.trim()) continue;
      let row: { step?: unknown };
      try {
        row = JSON.parse(line) as { step?: unknown };
      } catch {
        continue; // torn line from a kill
      }
      if (typeof row.step !== "number" || row.step <= lastStep) keep.push(line + "\n");
    }
    writeFileAtomic(p, keep.join(""));
  }
  writeSummary(summary: Record<string, unknown>): void {
    this.writeJson("summary.json", summary);
  }
  summary<T = Record<string, unknown>>(): T | null {
    return existsSync(this.path("summary.json")) ? this.readJson<T>("summary.json") : null;
  }
}

/** Create `root/<experiment>/<timestamp>-s<seed>/` with config.json and meta.json. */
export function createRun(opts: {
  experiment: string;
  seed: number;
  config: unknown;
  root?: string;
  dir?: string;
  extraMeta?: Record<string, unknown>;
}): RunDir {
  const root = opts.root ?? "runs";
  let dir = opts.dir ?? join(root, opts.experiment, `${timestamp()}-s${opts.seed}`);
  if (!opts.dir) {
    let i = 1;
    const base = dir;
    while (existsSync(dir)) dir = `${base}-${++i}`;
  }
  makeDirs(dir);
  const run = new RunDir(dir);
  const now = new Date().toISOString();
  run.writeJson("config.json", opts.config);
  const meta: RunMeta = {
    experiment: opts.experiment,
    seed: opts.seed,
    status: "running",
    createdAt: now,
    updatedAt: now,
    versions: { tinyfoundry: packageVersion(), "@jax-js/jax": "0.1.25", node: process.versions.node },
    gitCommit: gitCommit(),
    gitDirty: gitDirty(),
    machine: machineInfo(),
    ...opts.extraMeta,
  };
  run.writeJson("meta.json", meta);
  return run;
}

export function openRun(dir: string): RunDir {
  if (!existsSync(join(dir, "config.json")) || !existsSync(join(dir, "meta.json"))) {
    throw new Error(`run directory: ${dir} has no config.json/meta.json (not a tinyfoundry run)`);
  }
  return new RunDir(dir);
}
