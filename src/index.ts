/**
 * tinyfoundry's public API in one import (`import { ... } from "tinyfoundry"` from TypeScript run
 * through tsx, vitest or a bundler). Paper modules are imported from their folders,
 * e.g. `tinyfoundry/src/papers/fp4-training/index.js`.
 */
export * from "./engine/index.js";
export * from "./nn/init.js";
export * from "./nn/linear.js";
export * from "./nn/embedding.js";
export * from "./nn/norm.js";
export * from "./nn/attention.js";
export * from "./nn/mlp.js";
export * from "./nn/transformer.js";
export * from "./nn/generate.js";
export * from "./optim/index.js";
export * from "./data/tokenizer.js";
export * from "./data/corpus.js";
export * from "./data/batches.js";
export * from "./train/step.js";
export * from "./train/loop.js";
export * from "./train/run-dir.js";
export * from "./train/checkpoint.js";
export * from "./train/safetensors.js";
export * from "./train/config.js";
export * from "./train/experiment.js";
export * from "./util/rng.js";
export * from "./util/hash.js";
export * from "./report/charts.js";
export { writeReport, renderHTML, renderMarkdown, fmt, type ReportDoc, type Section, type Block as ReportBlock } from "./report/document.js";
export { experiments } from "./registry.js";
