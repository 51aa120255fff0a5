/**
 * A small MLP digit classifier trained on real digits. Its accuracy on generated digits is our IS analogue
 * (does the sample show the class it was asked for?), and its penultimate features feed the Fréchet distance,
 * an FID substitute (the real FID uses Inception-v3 features; ours are a 2-layer MLP's).
 */
import { np, jnn, jit, tree, crossEntropy, type Array } from "../../engine/index.js";
import { KeyGen } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";

export type ClassifierConfig = { inputDim: number; hidden: number; featureDim: number; numClasses: number };
export type ClassifierParams = { l1: Linear; l2: Linear; head: Linear };

export function initClassifier(cfg: ClassifierConfig, seed: number): ClassifierParams {
  const kg = new KeyGen(seed, "classifier");
  return {
    l1: initLinear(kg, "l1", cfg.inputDim, cfg.hidden, { bias: true, std: Math.sqrt(2 / cfg.inputDim) }),
    l2: initLinear(kg, "l2", cfg.hidden, cfg.featureDim, { bias: true, std: Math.sqrt(2 / cfg.hidden) }),
    head: initLinear(kg, "head", cfg.featureDim, cfg.numClasses, { bias: true, std: Math.sqrt(1 / cfg.featureDim) }),
  };
}

/** Pixels in [0, 1] x [B, inputDim] -> features [B, featureDim] and logits [B, K]. Consumes p and x. */
export function classifierForward(p: ClassifierParams, x: Array): { features: Array; logits: Array } {
  const h = jnn.gelu(linear(p.l1, x.sub(0.5).mul(2)), { approximate: true }); // [B, hidden]
  const f = jnn.gelu(linear(p.l2, h), { approximate: true }); // [B, featureDim]
  return { features: f.ref, logits: linear(p.head, f) };
}

export function classifierLoss(p: ClassifierParams, x: Array, y: Array): Array {
  return crossEntropy(classifierForward(p, x).logits, y);
}

/** Features, softmax probabilities and predictions for host images [n·inputDim] (params not consumed). */
export function makeClassifierEval(cfg: ClassifierConfig) {
  const f = jit((p: ClassifierParams, x: Array) => {
    const { features, logits } = classifierForward(p, x);
    return [features, jnn.softmax(logits, -1)];
  });
  return {
    async run(p: ClassifierParams, images: Float32Array, chunk = 1000): Promise<{ features: Float32Array; probs: Float32Array }> {
      const n = images.length / cfg.inputDim;
      const features = new Float32Array(n * cfg.featureDim);
      const probs = new Float32Array(n * cfg.numClasses);
      for (let s = 0; s < n; s += chunk) {
        const B = Math.min(chunk, n - s);
        const x = np.array(images.subarray(s * cfg.inputDim, (s + B) * cfg.inputDim)).reshape([B, cfg.inputDim]);
        const [fa, pa] = f(tree.ref(p), x) as [Array, Array];
        features.set((await fa.data()) as Float32Array, s * cfg.featureDim);
        probs.set((await pa.data()) as Float32Array, s * cfg.numClasses);
      }
      return { features, probs };
    },
    dispose: () => f.dispose(),
  };
}

/** Share of rows whose argmax equals the label, and the mean probability given to the label. */
export function accuracyAndConfidence(probs: Float32Array, labels: Int32Array, K: number): { accuracy: number; confidence: number } {
  let hit = 0;
  let conf = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (probs[i * K + k] > probs[i * K + best]) best = k;
    if (best === labels[i]) hit++;
    conf += probs[i * K + labels[i]];
  }
  return { accuracy: hit / labels.length, confidence: conf / labels.length };
}
