/**
 * The report of `omni-tokenizer`: verdicts, the frozen-LM sanity check, a T1/T2 table per layer
 * count (mean ± SE over seeds), the transcript-weight rows, and a curve of mel L1 vs RVQ layers.
 * Writes report.html, report.md and results.md (the block `tinyfoundry readme` puts into
 * src/papers/omni/TOKENIZER.md).
 */
import { lineChartSpec } from "../../report/charts.js";
import { fmt, writeReport, type ReportDoc, type Section } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { verdictBlocks, verdictTableMarkdown } from "../../report/verdicts.js";
import type { VerdictsFile } from "../../train/claims.js";
import { meanSE } from "../../train/stats.js";
import type { RunDir } from "../../train/run-dir.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { rvqBitrate } from "./rvq.js";
import type { TokStudyConfig } from "./tokenizer-study-config.js";
import type { TokStudySummary, TokWithProbes } from "./tokenizer-study-summary.js";
import { sanityGap } from "./tokenizer-study-claims.js";

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
/** Mean ± SE over seeds (just the value for one seed). */
function ms(xs: number[], scale = 1, digits = 3): string {
  const v = xs.filter(Number.isFinite).map((x) => x * scale);
  if (!v.length) return "n/a";
  if (v.length === 1) return v[0].toFixed(digits);
  const m = meanSE(v);
  return `${m.mean.toFixed(digits)} ± ${m.se.toFixed(digits)}`;
}

function mdTable(headers: string[], rows: (string | number)[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map((c) => fmt(c)).join(" | ")} |`)].join("\n");
}

/** One row per arm (T1, T2 and T2 at each further weight): mel L1 at 1/2/8 layers, probe CER per layer count, sanity. */
function armTable(s: TokStudySummary): { headers: string[]; rows: (string | number)[][] } {
  const nL = s.runs[0]?.T1.tokenizer.reconL1ByLayers.length ?? 8;
  const ks = s.probeLayers;
  const headers = ["arm", "transcript weight", "seeds", "mel L1 1 layer", "mel L1 2 layers", `mel L1 ${nL} layers`, ...ks.map((k) => `probe CER ${k} layer${k > 1 ? "s" : ""} (%)`), "frozen-LM NLL true / shuffled (per word)"];
  const row = (name: string, w: number, arms: TokWithProbes[]) => {
    const san = arms.map((a) => a.tokenizer.transcriptSanity).filter((x) => x !== undefined);
    return [
      name,
      w,
      arms.length,
      ms(arms.map((a) => a.tokenizer.reconL1ByLayers[0])),
      ms(arms.map((a) => a.tokenizer.reconL1ByLayers[1])),
      ms(arms.map((a) => a.tokenizer.reconL1ByLayers[nL - 1])),
      ...ks.map((k) => ms(arms.map((a) => a.probes[`k${k}`]?.cer ?? NaN), 100, 1)),
      san.length ? `${ms(san.map((x) => x.trueNll))} / ${ms(san.map((x) => x.shuffledNll))}` : "-",
    ];
  };
  const w1 = s.runs[0]?.weight ?? 1;
  const rows = [row("T1", 0, s.runs.map((r) => r.T1)), row("T2", w1, s.runs.map((r) => r.T2)), ...s.weights.map((w) => row("T2", w.weight, w.runs))];
  return { headers, rows };
}

function contextText(s: TokStudySummary): string {
  const r = s.readerLm.readBackSanity;
  return (
    `Held-out: ${s.data.evalUtterances} utterances of held-out voices (mel L1), of which the statements and questions are transcribed by the probes. ` +
    `Nuisance on every waveform: speed/pitch factor ${s.nuisance.speed.map((x) => x.toFixed(2)).join("-")}, gain ${s.nuisance.gainDb.map((x) => x.toFixed(1)).join(" to ")} dB, white noise at ${s.nuisance.snrDb.map((x) => x.toFixed(1)).join("-")} dB SNR. ` +
    `Mean-frame baseline mel L1 ${f3(s.tokenizerBaseline.meanFrameL1)}; constant-transcript CER ${(100 * s.probeBaseline.constantCer).toFixed(1)} %. ` +
    `Frozen reader LM (${s.readerLm.readBack} of its pretraining sequences read back a sentence laid out as an audio prefix, up to ${s.readerLm.readBackRepeats} slots per word): transcript NLL per word after the sentence's own read-back prefix ${f3(r.trueNll)}, after another sentence's ${f3(r.shuffledNll)}. ` +
    `T2's sanity check (shuffled minus true codes, per word, mean over seeds): ${f3(sanityGap(s))} nats.` +
    (s.whisperPretrain
      ? ` Every tokenizer's encoder started from one recogniser (the paper's Whisper encoder in small; ${s.whisperPretrain.steps} steps, word accuracy on held-out voices ${(100 * s.whisperPretrain.heldOutWordAcc).toFixed(1)} %), trained at ${s.whisperPretrain.encLrScale} × the tokenizer's rate.`
      : "")
  );
}

function runLine(run: RunDir, cfg: TokStudyConfig, s: TokStudySummary & { wallSeconds?: number }): string {
  const meta = run.meta();
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const wall = typeof s.wallSeconds === "number" ? `, wall time ${(s.wallSeconds / 60).toFixed(1)} min` : "";
  return `Run \`${run.dir.split("/").slice(-2).join("/")}\`, preset **${preset}**, seeds ${cfg.seed}..${cfg.seed + cfg.study.seeds - 1}${wall}; ${cfg.tokenizer.train.steps} tokenizer steps per arm, bitrate ${rvqBitrate(cfg.tokenizer.codebookSizes, 12.5).toFixed(1)} bit/s. Machine: ${machineLine(meta)}.`;
}

export async function writeTokStudyReport(run: RunDir, s: TokStudySummary, verdicts: VerdictsFile, cfg: TokStudyConfig): Promise<void> {
  const t = armTable(s);
  const nL = s.runs[0]?.T1.tokenizer.reconL1ByLayers.length ?? 8;
  const curve = (name: string, arms: TokWithProbes[]) => ({ name, points: Array.from({ length: nL }, (_, k) => [k + 1, meanSE(arms.map((a) => a.tokenizer.reconL1ByLayers[k])).mean] as [number, number]) });
  const sections: Section[] = [
    { heading: "Claims and verdicts", blocks: [{ kind: "text", text: `${runLine(run, cfg, s)} The paper has no tokenizer ablation: only the direction is a target.` }, ...verdictBlocks(verdicts)] },
    {
      heading: "T1 vs T2 (mean ± SE over seeds)",
      blocks: [
        { kind: "text", text: contextText(s) },
        { kind: "table", headers: t.headers, rows: t.rows },
        { kind: "chart", name: "recon-vs-layers", spec: lineChartSpec({ title: "Held-out mel L1 vs RVQ layers used", series: [curve("T1", s.runs.map((r) => r.T1)), curve("T2", s.runs.map((r) => r.T2))], xLabel: "RVQ layers used", yLabel: "mel L1", points: true }) },
        { kind: "code", caption: "Probe transcripts (T2, first seed, all layers; first examples)", text: (s.runs[0]?.T2.probes[`k${Math.max(...s.probeLayers)}`]?.examples ?? []).map((e) => `REF ${e.ref}\nHYP ${e.hyp}`).join("\n") },
      ],
    },
  ];
  const doc: ReportDoc = { title: "Baichuan-Omni-1.5 audio tokenizer: T1 vs T2 (arXiv 2501.15368, §3.2.2)", subtitle: "reconstruction-only vs reconstruction + frozen-LM transcript loss", sections };
  await writeReport(doc, run.dir);
  const results = [runLine(run, cfg, s), "", verdictTableMarkdown(verdicts), "", "**T1 vs T2** (held-out voices and sentences; mean ± SE over seeds)", "", mdTable(t.headers, t.rows), "", contextText(s), ""].join("\n");
  writeFileAtomic(run.path("results.md"), results);
}
