// Issue 24 navigation: print stage-0 next-action documents and probes, and their token lengths. Usage: npx tsx scripts/pilots/sft-vs-rl-nav-docs.mts
import { Rng } from "../../src/util/rng.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup } from "../../src/papers/sft-vs-rl/arms.js";
import { navigationDocument, nextActionProbes, NAV_MIX } from "../../src/papers/sft-vs-rl/corpus.js";
const { tok } = setup({ ...sftVsRlPresets.quick, envs: ["navigation"] });
const rng = new Rng(3);
const lens: number[] = [];
for (let i = 0; i < 400; i++) {
  const d = navigationDocument(rng, { ...NAV_MIX, compass: 0, binding: 0, walk: 0 });
  lens.push(tok.encode(d).length);
  if (i < 3) console.log(d + "\n---");
}
lens.sort((a, b) => a - b);
console.log(`next-action docs: tokens mean ${(lens.reduce((a, b) => a + b) / lens.length).toFixed(0)} p50 ${lens[200]} p90 ${lens[360]} max ${lens[399]}`);
for (const p of nextActionProbes(new Rng(4), 2, "relative")) console.log(p.prompt + " => " + p.answer + "\n---");
