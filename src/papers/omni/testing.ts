/** Shared by the omni tests: a tokenizer small enough to train in milliseconds (16 mels, width 8, 8 RVQ layers). */
import type { TokenizerConfig } from "./tokenizer.js";

/** The tests' tiny tokenizer; `transcriptWeight` 0 is T1 (reconstruction only), > 0 adds T2's transcript loss. */
export function tinyTokenizerConfig(transcriptWeight = 0): TokenizerConfig {
  return {
    nMels: 16,
    width: 8,
    encLayers: 1,
    decLayers: 1,
    heads: 2,
    codebookSizes: [8, 8, 4, 4, 4, 4, 4, 4],
    postnetChannels: 8,
    postnetLayers: 2,
    groups: 2,
    up4Kernel: 3,
    emaDecay: 0.9,
    deadCodeThreshold: 0.01,
    commitWeight: 0.25,
    transcriptWeight,
    melScales: [1, 2],
  };
}
