/**
 * Tokenizers. `ByteTokenizer`: UTF-8 bytes, vocabulary 256. `BPETokenizer`: byte-level BPE
 * (Sennrich et al. 2016; GPT-2's byte-level variant) trained from a corpus, saved and loaded in
 * the Hugging Face `tokenizer.json` format (model type "BPE", ByteLevel pre-tokenizer/decoder).
 */
export interface Tokenizer {
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: false });

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256;
  encode(text: string): number[] {
    return Array.from(enc.encode(text));
  }
  decode(ids: number[]): string {
    return dec.decode(Uint8Array.from(ids.filter((i) => i >= 0 && i < 256)));
  }
}

/** GPT-2's reversible byte -> printable unicode map used by the ByteLevel pre-tokenizer. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i])));
  return out;
}
const BYTE_CHARS = bytesToUnicode();
const CHAR_BYTES = new Map(BYTE_CHARS.map((c, b) => [c, b]));

/** GPT-2 pre-tokenizer pattern: contractions, words, numbers, punctuation runs, spaces. */
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export type BPEJson = {
  version: string;
  model: { type: "BPE"; vocab: Record<string, number>; merges: string[] | [string, string][] };
  [k: string]: unknown;
};

export class BPETokenizer implements Tokenizer {
  private readonly rank = new Map<string, number>();
  private readonly idOf = new Map<string, number>();
  private readonly tokenOf: string[] = [];
  private readonly cache = new Map<string, number[]>();
  constructor(
    readonly vocab: Record<string, number>,
    readonly merges: [string, string][],
  ) {
    for (const [t, id] of Object.entries(vocab)) {
      this.idOf.set(t, id);
      this.tokenOf[id] = t;
    }
    merges.forEach(([a, b], i) => this.rank.set(`${a} ${b}`, i));
  }
  get vocabSize(): number {
    return this.tokenOf.length;
  }

  /** Train on `text` until the vocabulary has `vocabSize` entries (256 bytes + merges). */
  static train(text: string, vocabSize: number, opts: { maxChars?: number } = {}): BPETokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < 256) throw new Error(`bpe.vocabSize: must be an integer >= 256, got ${vocabSize}`);
    const sample = text.slice(0, opts.maxChars ?? 2_000_000);
    // word (as byte-chars) -> count
    const words = new Map<string, number>();
    for (const m of sample.matchAll(PRETOKENIZE)) {
      const w = Array.from(enc.encode(m[0]), (b) => BYTE_CHARS[b]).join("\u0000");
      words.set(w, (words.get(w) ?? 0) + 1);
    }
    const seqs: { syms: string[]; count: number }[] = [...words].map(([w, c]) => ({ syms: w.split("\u0000"), count: c }));
    const vocab: Record<string, number> = {};
    BYTE_CHARS.forEach((c, i) => (vocab[c] = i));
    const merges: [string, string][] = [];
    while (Object.keys(vocab).length < vocabSize) {
      const pairs = new Map<string, number>();
      for (const { syms, count } of seqs) {
        for (let i = 0; i + 1 < syms.length; i++) {
          const k = syms[i] + "\u0000" + syms[i + 1];
          pairs.set(k, (pairs.get(k) ?? 0) + count);
        }
      }
      let best = "";
      let bestC = 1;
      for (const [k, c] of pairs) if (c > bestC || (c === bestC && best !== "" && k < best)) [best, bestC] = [k, c];
      if (best === "") break; // nothing left to merge
      const [a, b] = best.split("\u0000");
      const merged = a + b;
      merges.push([a, b]);
      vocab[merged] = Object.keys(vocab).length;
      for (const s of seqs) {
        const out: string[] = [];
        for (let i = 0; i < s.syms.length; i++) {
          if (i + 1 < s.syms.length && s.syms[i] === a && s.syms[i + 1] === b) {
            out.push(merged);
            i++;
          } else out.push(s.syms[i]);
        }
        s.syms = out;
      }
    }
    return new BPETokenizer(vocab, merges);
  }

  private bpe(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let syms = Array.from(enc.encode(word), (b) => BYTE_CHARS[b]);
    while (syms.length > 1) {
      let bestI = -1;
      let bestR = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = this.rank.get(`${syms[i]} ${syms[i + 1]}`);
        if (r !== undefined && r < bestR) [bestR, bestI] = [r, i];
      }
      if (bestI < 0) break;
      syms = [...syms.slice(0, bestI), syms[bestI] + syms[bestI + 1], ...syms.slice(bestI + 2)];
    }
    const ids = syms.map((s) => this.idOf.get(s)!);
    if (this.cache.size < 100_000) this.cache.set(word, ids);
    return ids;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of text.matchAll(PRETOKENIZE)) out.push(...this.bpe(m[0]));
    return out;
  }

  decode(ids: number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const t = this.tokenOf[id];
      if (t === undefined) continue;
      for (const ch of t) {
        const b = CHAR_BYTES.get(ch);
        if (b !== undefined) bytes.push(b);
      }
    }
    return dec.decode(Uint8Array.from(bytes));
  }

  /** Hugging Face `tokenizer.json` (loadable by `tokenizers.Tokenizer.from_file`). */
  toJSON(): object {
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab: this.vocab,
        merges: this.merges.map(([a, b]) => [a, b]),
      },
    };
  }

  static fromJSON(json: BPEJson): BPETokenizer {
    if (json?.model?.type !== "BPE") throw new Error('tokenizer.json: model.type must be "BPE"');
    const merges = json.model.merges.map((m) => (typeof m === "string" ? (m.split(" ") as [string, string]) : m));
    return new BPETokenizer(json.model.vocab, merges);
  }
}
