/**
 * Whisper-style pretraining of the tokenizer's speech encoder (Baichuan-Omni-1.5, arXiv 2501.15368,
 * §3.2.2: "After extracting high-level features from Mel spectrogram features using Whisper Large
 * Encoder, the residual convolutional network performs downsampling ..."; the encoder is Whisper's,
 * pretrained for recognition: Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak
 * Supervision", §2.4, an encoder with a decoder that predicts the transcript).
 *
 * Our encoder (`tokenizer.ts`: conv stem, transformer layers, the gated-conv pooler to 12.5 Hz) is
 * trained here as a recogniser before the tokenizer: its 12.5 Hz features, projected to the width
 * of a small decoder-only transformer, are the decoder's prefix, followed by `<transcribe>` and
 * the words (cross-entropy on the words and `<eos>`). Whisper's decoder cross-attends to the
 * encoder instead; a prefix read by causal self-attention is the same conditional model in the
 * layout the rest of this reproduction already uses (`probe.ts`, the T2 transcript loss).
 * The pooler is part of what is pretrained, so the features the RVQ quantises are the ones the
 * recogniser read (the paper's pooler sits on the frozen-or-not Whisper output; the paper does
 * not say which).
 */
import { np, crossEntropy, disposeTree, type Array } from "../../engine/index.js";
import { KeyGen } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { initLM, lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { embed } from "../../nn/embedding.js";
import { rvqQuantize } from "./rvq.js";
import { encodeFeatures, initTokNet, type EncoderNet, type TokenizerConfig, type TokNet } from "./tokenizer.js";

export type { EncoderNet };


/** The recogniser: the tokenizer's encoder, a projection into the decoder, the decoder LM. */
export type RecogniserParams = { enc: EncoderNet; dec: { proj: Linear; lm: LMParams } };

/** The encoder part of a tokenizer net (shares its arrays; nothing is copied or consumed). */
export function encoderOf(net: TokNet): EncoderNet {
  return { conv1: net.conv1, conv2: net.conv2, enc: net.enc, encLn: net.encLn, pool: net.pool };
}

/**
 * A tokenizer net whose encoder is `enc` (consumed) in place of its own (disposed); the decoder and
 * post-net are `net`'s. This is how the tokenizer starts from the pretrained encoder.
 */
export function withEncoder(net: TokNet, enc: EncoderNet): TokNet {
  disposeTree(encoderOf(net));
  return { ...net, ...enc };
}

/** A fresh recogniser: the encoder initialised exactly as the tokenizer's (same seed and names). */
export function initRecogniser(tcfg: TokenizerConfig, dcfg: LMConfig, seed: number): RecogniserParams {
  const net = initTokNet(tcfg, seed);
  const enc = encoderOf(net);
  disposeTree({ dec: net.dec, post: net.post });
  const kg = new KeyGen(seed, "whisper-pretrain");
  const D = 4 * tcfg.width;
  return { enc, dec: { proj: initLinear(kg, "dec.proj", D, dcfg.dModel, { std: Math.sqrt(1 / D), bias: true }), lm: initLM(dcfg, seed + 29) } };
}

/**
 * Decoder inputs [B, T12 + L, D]: the projected 12.5 Hz encoder features, then the text tokens. With `codebooks` (consumed)
 * the features are replaced by their RVQ quantisation over those layers (what a tokenizer on this encoder keeps of them).
 */
function recogniserEmbeds(p: RecogniserParams, tcfg: TokenizerConfig, mel: Array, textIn: Array, codebooks?: Array[]): Array {
  let z = encodeFeatures(p.enc, tcfg, mel); // [B, T12, 4C]
  if (codebooks) {
    const [B, T12, D] = z.shape;
    const q = rvqQuantize(codebooks, z.reshape([B * T12, D]), np.ones([B * T12]));
    q.commitLoss.dispose();
    disposeTree([q.codes, q.counts, q.sums, q.residuals]);
    z = q.quantized.reshape([B, T12, D]);
  }
  const prefix = linear(p.dec.proj, z);
  const text = embed({ table: p.dec.lm.wte.table.ref }, textIn);
  return np.concatenate([prefix, text], 1);
}

/** Whisper's objective: cross-entropy of the transcript given the audio. mel [B, T, M]; text [B, L]. */
export function recogniserLoss(p: RecogniserParams, tcfg: TokenizerConfig, dcfg: LMConfig, mel: Array, textIn: Array, textTgt: Array, textMask: Array): Array {
  const T12 = mel.shape[1] / 8;
  const L = textIn.shape[1];
  const { logits } = lmForward(p.dec.lm, dcfg, null, { inputEmbeds: recogniserEmbeds(p, tcfg, mel, textIn) });
  return crossEntropy(logits.slice([], [T12, T12 + L], []), textTgt, textMask);
}

/** Logits of the text part [B, L, V] (greedy decoding by the host); `codebooks`: read RVQ-quantised features instead. */
export function recogniserLogits(p: RecogniserParams, tcfg: TokenizerConfig, dcfg: LMConfig, mel: Array, textIn: Array, codebooks?: Array[]): Array {
  const T12 = mel.shape[1] / 8;
  const L = textIn.shape[1];
  const { logits } = lmForward(p.dec.lm, dcfg, null, { inputEmbeds: recogniserEmbeds(p, tcfg, mel, textIn, codebooks) });
  return logits.slice([], [T12, T12 + L], []);
}
