/**
 * The omni experiment's report, from the run's summary and verdicts: the claims and their typed
 * verdicts, the paper's figures beside ours (which are structural matches, which only
 * directions), the tokenizer and staging tables, and the audio and image samples the experiment
 * wrote into the run directory. Writes report.html, report.md and results.md. Computes nothing
 * heavy: every WAV and PNG here is read from a file.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { barChartSpec, lineChartSpec } from "../../report/charts.js";
import { fmt, writeReport, type Block, type ReportDoc, type Section } from "../../report/document.js";
import { machineLine, runSections } from "../../report/run-report.js";
import { verdictBlocks, verdictTableMarkdown } from "../../report/verdicts.js";
import type { VerdictsFile } from "../../train/claims.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import { writeFileAtomic } from "../../util/atomic.js";
import type { OmniExperimentConfig } from "./config.js";
import { rvqBitrate } from "./rvq.js";
import { PAPER_STAGES } from "./stages.js";
import { visionTowerText, type OmniEval, type OmniSummary, type SampleFile, type StageSummary } from "./summary.js";

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : "n/a");
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
const finalS1 = (s: OmniSummary): StageSummary => s.s1[PAPER_STAGES[PAPER_STAGES.length - 1].name];

function mdTable(headers: string[], rows: (string | number)[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map((c) => fmt(c)).join(" | ")} |`)].join("\n");
}

function runLine(run: RunDir, cfg: OmniExperimentConfig, s: OmniSummary): string {
  const meta = run.meta();
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const wall = typeof s.wallSeconds === "number" ? `, wall time ${(s.wallSeconds / 60).toFixed(1)} min` : "";
  return `Run \`${run.dir.split("/").slice(-2).join("/")}\`, preset **${preset}**, seed ${cfg.seed}${wall}. Machine: ${machineLine(meta)}.`;
}

function structureRows(cfg: OmniExperimentConfig, s: OmniSummary): (string | number)[][] {
  const sizes = cfg.tokenizer.codebookSizes;
  const last = finalS1(s);
  return [
    ["Tokenizer frame rate", "12.5 Hz (100 → 50 → 12.5)", `${s.tokenizers.T2.frameRate} Hz (same chain)`, "structural match"],
    ["RVQ layers", "8", String(sizes.length), "structural match"],
    ["Codebook sizes", "8192, 4096, 2048, 1024×5", sizes.join(", "), "scaled down, decreasing"],
    ["Bitrate", "1075 bit/s (derived)", `${rvqBitrate(sizes, 12.5).toFixed(1)} bit/s`, "scaled down"],
    ["Encoder / decoder width", "1280 (RVQ at 5120)", `${cfg.tokenizer.width} (RVQ at ${4 * cfg.tokenizer.width})`, "scaled down, same 4× ratio"],
    ["Audio head", "3-layer depth transformer, 8 heads, per-position FFN", `${cfg.omni.depthLayers}-layer depth transformer, ${sizes.length} heads, per-position FFN`, "structural match"],
    ["Vision tower", "NaViT of Qwen2-VL (pretrained)", `${cfg.omni.vision.layers}-layer ViT, ${cfg.omni.vision.width} wide, ${cfg.omni.vision.patch}×${cfg.omni.vision.patch} patches: ${visionTowerText(s.visionPretrain)}`, s.visionPretrain && "heldOutAcc" in s.visionPretrain ? "pretrained, far smaller" : "not pretrained (ablation)"],
    ["Projector", "2×2 merge + 2-layer MLP", "2×2 merge + 2-layer MLP", "structural match"],
    ["Training stages", "7 (freeze table in §3.3)", `${PAPER_STAGES.length} (same table)`, `structural match; LRs compressed (γ = ${cfg.omni.lrExponent})`],
    ["Audio pretraining data", "887 k hours", `${(s.data.speechSeconds / 60).toFixed(1)} minutes of espeak-ng speech (${s.data.utterances} utterances)`, "not comparable"],
    ["Backbone", "Qwen2.5-7B (28 layers, 3584)", `${cfg.textLm.model.nLayers} layers, ${cfg.textLm.model.dModel} wide, ${s.textLm.params.toLocaleString("en-US")} parameters`, "not comparable"],
    ["Text (MMLU)", "72.2", `written-QA accuracy ${pct(s.textLm.textQaAcc)} (text LM)`, "different task"],
    ["Speech QA s→t / s→s (Reasoning QA)", "50.0 / 40.9", `${pct(last.s2tAcc)} / ${pct(last.s2sTextAcc)} (spoken arithmetic, held-out voices; s→s text part)`, "direction only"],
  ];
}

const STAGE_HEADERS = ["model", "trained groups", "held-out text NLL", "written QA", "caption", "image+speech QA", "ASR word acc.", "s→t", "s→t held-out Q", "s→s text", "s→s audio"];
function stageRows(s: OmniSummary): (string | number)[][] {
  const row = (name: string, e: OmniEval, trained: string) => [name, trained, f3(e.textNll), pct(e.textQaAcc), pct(e.captionAcc), pct(e.omniAcc), pct(e.asrWordAcc), pct(e.s2tAcc), pct(e.s2tAccHeldOutQ), pct(e.s2sTextAcc), pct(e.s2sAudioAcc)];
  const rows: (string | number)[][] = [["text LM (before any stage)", "lm", f3(s.textLm.textNll), pct(s.textLm.textQaAcc), "-", "-", "-", "-", "-", "-", "-"]];
  for (const st of PAPER_STAGES) {
    const e = s.s1[st.name];
    if (e) rows.push(row(`S1 ${st.name}`, e, e.trained.join("+")));
  }
  if (s.s1NoReplay) rows.push(row("S1 without text replay (final)", s.s1NoReplay, s.s1NoReplay.trained.join("+")));
  const textShare = s.s2.mix.text ?? 0;
  rows.push(row(`S2 joint (S1's data, ${pct(textShare)} text)`, s.s2, s.s2.trained.join("+")));
  return rows;
}

/** The judge of spoken answers, in one sentence (its held-out-voice accuracy is the ceiling of s→s audio). */
const judgeText = (s: OmniSummary) =>
  s.judge
    ? `Judge of spoken answers: a digit-word classifier on the first ${s.judge.layers} RVQ layers' codes, right on ${pct(s.judge.trainAcc)} of ${s.judge.trainN} training-voice digit words and ${pct(s.judge.heldOutAcc)} of ${s.judge.heldOutN} held-out-voice digit words (the ceiling of the s→s audio column).`
    : "Judge of spoken answers: not measured in this run.";

/** The tokenizer arms in the summary: T2 always; T1 (and probes) only in summaries written before the study moved to `omni-tokenizer`. */
const tokArms = (s: OmniSummary) => (["T1", "T2"] as const).filter((a) => s.tokenizers[a]);
const probeLayers = (cfg: OmniExperimentConfig, s: OmniSummary) => (s.probes ? cfg.probe.layers : []);

function tokenizerTable(cfg: OmniExperimentConfig, s: OmniSummary): { headers: string[]; rows: (string | number)[][] } {
  const toks = s.tokenizers;
  const layers = toks.T2.reconL1ByLayers.map((_, i) => i + 1);
  const rows = tokArms(s).map((a) => [
    a === "T1" ? "T1 (reconstruction only)" : "T2 (+ frozen-LM transcript)",
    ...toks[a]!.reconL1ByLayers.map(f3),
    ...probeLayers(cfg, s).map((k) => pct(s.probes?.[`probe-${a}-k${k}`]?.cer ?? NaN)),
    pct(toks[a]!.usage[0].used),
    toks[a]!.usage.map((u) => u.perplexity.toFixed(1)).join(" / "),
  ]);
  const headers = ["tokenizer", ...layers.map((k) => `mel L1 @${k}`), ...probeLayers(cfg, s).map((k) => `probe CER @${k}`), "layer-1 usage", "perplexity per layer"];
  return { headers, rows };
}

const sanityText = (s: OmniSummary) => {
  const x = s.tokenizers.T2.transcriptSanity;
  return x ? ` Frozen-LM sanity check (T2): transcript loss ${f3(x.trueNll)} nats per token with the true codes, ${f3(x.shuffledNll)} with another utterance's codes (${x.n} held-out utterances).` : "";
};
const baselineText = (s: OmniSummary) =>
  `Trivial baselines on the same held-out set: mel L1 of the mean training frame ${f3(s.tokenizerBaseline.meanFrameL1)}` +
  (s.probeBaseline ? `; CER of the best constant transcript ("${s.probeBaseline.constantText}") ${pct(s.probeBaseline.constantCer)}.` : ".") +
  sanityText(s);

/** Audio or image blocks from files the experiment wrote (missing files are skipped). */
function fileBlocks(run: RunDir, files: SampleFile[], kind: "audio" | "image"): Block[] {
  return files
    .filter((f) => existsSync(run.path(f.file)))
    .map((f) => {
      const name = f.file.replace(/^.*\//, "").replace(/\.(wav|png)$/, "");
      const bytes = readFileSync(run.path(f.file));
      return kind === "audio" ? { kind, name, wav: bytes, caption: f.caption } : { kind, name, png: bytes, caption: f.caption };
    });
}

export async function writeOmniReport(run: RunDir, s: OmniSummary, verdicts: VerdictsFile, cfg: OmniExperimentConfig): Promise<void> {
  const tok = tokenizerTable(cfg, s);
  const none: Block[] = [{ kind: "text", text: "none" }];
  const audio = fileBlocks(run, s.samples.audio, "audio");
  const generated = fileBlocks(run, s.samples.generated, "audio");
  const digits = fileBlocks(run, s.samples.digits ? [s.samples.digits] : [], "image");
  const kMax = Math.max(...cfg.probe.layers);
  const sections: Section[] = [
    {
      heading: "Claims and verdicts",
      blocks: [{ kind: "text", text: `${runLine(run, cfg, s)} The paper reports no ablation for the tokenizer or staging claims; at a scale about 10⁶× smaller only their direction is a target.` }, ...verdictBlocks(verdicts)],
    },
    { heading: "Paper vs ours: structure and headline figures", blocks: [{ kind: "table", headers: ["item", "paper", "ours", "kind of match"], rows: structureRows(cfg, s) }] },
    {
      heading: s.tokenizers.T1 ? "Tokenizer T1 vs T2" : "Tokenizer T2 (the one the stages read; the T1-vs-T2 study is the omni-tokenizer entry)",
      blocks: [
        { kind: "text", text: "Mel L1 = mean |decoded − true| normalised log-mel on held-out voices and sentences, decoding with the first k RVQ layers." + (s.probes ? " Probe CER = greedy transcripts of a small recogniser trained on the codes of training voices, scored on held-out voices. " : " ") + baselineText(s) },
        { kind: "table", headers: tok.headers, rows: tok.rows },
        {
          kind: "chart",
          name: "recon-vs-layers",
          spec: lineChartSpec({ title: "Reconstruction vs RVQ layers used", series: tokArms(s).map((a) => ({ name: a, points: s.tokenizers[a]!.reconL1ByLayers.map((v, i) => [i + 1, v] as [number, number]) })), xLabel: "RVQ layers used", yLabel: "held-out mel L1", points: true }),
        },
        ...(s.probes
          ? ([
              { kind: "chart", name: "probe-cer", spec: barChartSpec({ title: "Probe CER (lower = more linguistic content)", bars: Object.entries(s.probes).map(([k, v]) => ({ label: k.replace("probe-", ""), value: v.cer })), yLabel: "CER" }) },
              { kind: "code", caption: "Probe transcripts (T2, all layers; first examples)", text: (s.probes[`probe-T2-k${kMax}`]?.examples ?? []).map((e) => `REF ${e.ref}\nHYP ${e.hyp}`).join("\n") },
            ] as Block[])
          : []),
      ],
    },
    {
      heading: "Staged training S1 vs its controls (S1 without replay, one joint stage S2)",
      blocks: [
        { kind: "text", text: "Accuracies are of the one-word answer (10 digit words: chance ≈ 10 %). Speech questions are spoken by held-out voices; 'held-out Q' are questions never spoken in training (their text is in the text corpus). s→s text = the text segment the model writes before `<audiogen_start>` (the paper scores s→s on that); s→s audio = the generated answer audio as the digit-word judge classifies it (final S1 model only). ASR word accuracy = 1 − word error rate of greedy transcripts (measured after every stage). S1 without text replay: the same stages with pure text removed from every mix; S2: one joint stage from the text LM on the union of S1's data (the same proportions and total steps). " + judgeText(s) },
        { kind: "table", headers: STAGE_HEADERS, rows: stageRows(s) },
      ],
    },
    { heading: "Audio samples (held-out voices)", blocks: audio.length ? audio : none },
    { heading: "Generated speech answers (S1, speech in → text + speech out)", blocks: generated.length ? generated : none },
    { heading: "Image samples", blocks: digits.length ? digits : none },
  ];
  for (const a of ["tokenizer-T1", "tokenizer-T2", `s1-${PAPER_STAGES.length}-${PAPER_STAGES[PAPER_STAGES.length - 1].name}`, "s2-joint"]) {
    const dir = run.path("arms", a);
    if (existsSync(join(dir, "meta.json"))) for (const sec of runSections(openRun(dir), a)) sections.push({ ...sec, heading: `${a}: ${sec.heading}` });
  }
  const doc: ReportDoc = { title: "Tiny Baichuan-Omni-1.5 (arXiv 2501.15368)", subtitle: "12.5 Hz RVQ audio tokenizer, speech/image/text omni model, staged training", sections };
  await writeReport(doc, run.dir);

  const results = [
    runLine(run, cfg, s),
    "",
    verdictTableMarkdown(verdicts),
    "",
    "**Paper vs ours**",
    "",
    mdTable(["item", "paper", "ours", "kind of match"], structureRows(cfg, s)),
    "",
    s.tokenizers.T1 ? "**Tokenizer** (held-out voices and sentences)" : "**Tokenizer T2** (the one the stages read; held-out voices and sentences)",
    "",
    mdTable(tok.headers, tok.rows),
    "",
    baselineText(s),
    "",
    "**Stages** (answers are one of 10 digit words; chance ≈ 10 %)",
    "",
    mdTable(STAGE_HEADERS, stageRows(s)),
    "",
    judgeText(s),
    "",
  ].join("\n");
  writeFileAtomic(run.path("results.md"), results);
}
