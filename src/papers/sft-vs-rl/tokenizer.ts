/**
 * Tokenizer and chat rendering for the small policy of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161).
 *
 * The paper's prompts are long fixed templates (§4.1, App. A.3: the GeneralPoints prompt is ~650 bytes). A byte
 * model with a 256-token context cannot hold them, and a real LLM's tokenizer compresses such text ~4x anyway. So
 * the model reads the exact prompt/answer text through a *phrase tokenizer*: the 256 byte tokens plus a fixed list
 * of multi-byte phrases (template lines, JSON keys, verifier messages, quoted card names), matched greedily
 * longest-first, exactly as a BPE would merge frequent strings. Decoding concatenates; encode∘decode is the
 * identity on any text. Whole numbers 10..169 are single tokens (as in BPE vocabularies of real LLMs), so a card
 * value or a two-operand result is one token. The rule-specific part of the prompt ("count as '10'" vs "count as
 * '11', '12', and '13' respectively") stays at the level of number tokens and small glue phrases, so the rule is
 * read, not looked up as one token.
 *
 * Chat rendering (the released code's message list, no system role): `<|user|>` text `<|end|>` `<|assistant|>`
 * answer `<|end|>` ... ending with `<|assistant|>` for generation. Deviation (stated in the README): when the
 * revision history does not fit the context, the task prompt is kept and the oldest (answer, feedback) pairs are
 * dropped first.
 */
import { ABSOLUTE_DIRECTIONS, buildCity, CITY_SEEDS, INTERSECTION_OBS, NAV_OUTPUT_FORMAT, NO_LANDMARKS, RELATIVE_DIRECTIONS, type Message } from "../../envs/index.js";

/** Special chat tokens (also phrases, so they round-trip through text). */
export const USER = "<|user|>\n";
export const ASSISTANT = "<|assistant|>\n";
export const END = "<|end|>\n";

/**
 * Phrases of the GeneralPoints prompt, answer and verifier messages, and of the stage-0 corpus. Every list of cards or
 * numbers opens with its own `[` token and closes with its own `]`, so copying the prompt's cards into the answer can
 * match on content (the token after the earlier `[`) instead of on a distance, which differs between prompts, and
 * the k-th number stands as far from the k-th card in the answer as in stage 0's records. The answer's keys share
 * their key-word tokens (`cards`, `number`, `formula`) with stage 0's plain records, and its formula stands between
 * two `"` tokens, as stage 0's quoted solutions do.
 */
export const GP_PHRASES: readonly string[] = [
  USER,
  ASSISTANT,
  END,
  "[Task Description]\n",
  "You are an expert ",
  " points card game player. You will receive a set of 4 cards.\n",
  "Note that ",
  ", and each card must be used once.\n",
  "Your goal is to output a formula that evaluates to ",
  " using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.\n",
  "[Input]\nCards: ",
  "[Output]\n",
  '{\n  "cards": [x, y, z, w], where ',
  // With the comma that ends the line before, so the answer's shorter `,\n  "number": ` phrase cannot split it.
  ',\n  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,\n',
  "  \"formula\": 'an equation that equals ",
  "',\n}",
  "'J', 'Q', and 'K' count as '",
  "', '",
  "', and '",
  "' respectively",
  // The answer's JSON keys are a quote-and-brace phrase, the key word, and a colon phrase, as a BPE splits them; the
  // key words are the same tokens as stage 0's plain `cards: [...]`, `number: [...]` and `formula: ...` lines.
  '{\n  "',
  ',\n  "',
  '": ',
  "cards",
  "number",
  "formula",
  ": ",
  ',\n}',
  ", ",
  ...["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"].map((c) => `'${c}'`),
  "You failed this trial because ",
  "your formula does not match any solution",
  " is partially correct but the full formula does not match any solution",
  "you used invalid numbers: [",
  "you used numbers: [",
  "] too many times",
  "you didn't use numbers: [",
  "illegal characters",
  "invalid sequence after number",
  "invalid sequence after operator",
  "invalid sequence before '('",
  "unmatched closing parenthesis",
  "invalid sequence after ')'",
  "Correct solution",
  "step_limit_reached",
  "Rule: ",
  "Value: ",
  // The 3-card variant of the template (the quick preset's hand size).
  " points card game player. You will receive a set of 3 cards.\n",
  '{\n  "cards": [x, y, z], where ',
  ',\n  "number": [a, b, c], where a, b, and c are the numbers on the cards,\n',
  // Stage-0 record lines (plain text, not the task's JSON).
  "Cards: ",
  "Make 24: ",
  "Solution: ",
  "Each card must be used once.",
  "Note: 'A' counts as 1 and '",
  // Whole numbers 10..169 (every card value, target and two-operand result), as a BPE merges frequent numbers;
  // 1..9 are single bytes already.
  ...Array.from({ length: 160 }, (_, i) => String(10 + i)),
];

/** Most rail points of a route (1 + maxLegs·(5 + 1) with the env's default 4 legs): the history's `O_k: `/`A_k: ` phrases go this far. */
export const NAV_MAX_POINTS = 25;
/** Most instruction sentences of a route (2 per leg, 4 legs): the `k. ` numbering phrases go this far. */
export const NAV_MAX_SENTENCES = 8;

/**
 * Phrases of the navigation prompt, expert answer and verifier messages (`src/envs/navigation`), added only when the
 * experiment trains on navigation. Template lines, JSON keys and the history's `O_k: `/`A_k: ` labels are whole
 * tokens (as a BPE would merge them); the direction words, the action names and the landmark name words of the
 * training city ("metro") are tokens shared by instruction, action space, history and answer. The action-space line
 * lists its directions as separate quoted tokens (`'north'`, `'left'`, ...), so the rule variant (absolute vs
 * relative action space) is read from the prompt, not looked up as one token.
 */
export function navigationPhrases(): string[] {
  const dirs = [...ABSOLUTE_DIRECTIONS, ...RELATIVE_DIRECTIONS];
  const city = buildCity("metro", CITY_SEEDS.metro);
  const words = new Set<string>();
  for (const l of city.landmarkAt) {
    if (!l) continue;
    const sp = l.name.indexOf(" ");
    words.add(l.name.slice(0, sp));
    words.add(l.name.slice(sp)); // " Hotel", " Tea House", ...
  }
  const again = " and answer again in the same format:\n";
  return [
    "You are an expert navigator. You follow a sequence of instructions. You also see your past observations and actions as text.\n",
    "First find the instruction sentence to execute next, then choose the action for the current observation.\n",
    "\n[Instruction]\n",
    "[Action space]\n",
    '"forward()": move forward one step along the road\n',
    '"turn_direction(x)": turn to face direction x, where x is one of [',
    ']\n"stop()": the navigation is finished\n',
    "\n[Observations and actions sequence]\n",
    "\n\n" + NAV_OUTPUT_FORMAT,
    NAV_OUTPUT_FORMAT,
    ...Array.from({ length: NAV_MAX_SENTENCES }, (_, i) => `${i + 1}. `),
    "First, turn ",
    "Turn ",
    " to face ",
    "Move forward until you reach next intersection where ",
    "Move forward until you reach next intersection.",
    "Move forward until you reach destination where ",
    " is on your ",
    ...["left front", "left behind", "right front", "right behind"],
    ".\n",
    ...dirs,
    ...dirs.map((d) => `'${d}'`),
    ...[...words].sort(),
    ...Array.from({ length: NAV_MAX_POINTS }, (_, i) => `O_${i + 1}: `),
    ...Array.from({ length: NAV_MAX_POINTS }, (_, i) => `A_${i + 1}: `),
    `${NO_LANDMARKS}; `,
    INTERSECTION_OBS,
    "forward()",
    "stop()",
    "turn_direction(",
    ")\n",
    '{\n  "current observation": "',
    '",\n  "current instruction": "',
    '",\n  "action": "',
    '"\n}',
    "your action is incorrect; choose another action" + again,
    "you are not at an intersection; correct this observation" + again,
    "you are at an intersection; correct this observation" + again,
  ];
}

/** The phrase list for a set of environments: GeneralPoints' list, plus navigation's when it is trained. */
export function phrasesFor(envs: readonly string[]): string[] {
  const base = envs.includes("navigation") ? [...GP_PHRASES, ...navigationPhrases().filter((p) => !new Set(GP_PHRASES).has(p))] : [...GP_PHRASES];
  if (!envs.includes("general-points-vl")) return base;
  const have = new Set(base);
  return [...base, ...VL_PHRASES.filter((p) => !have.has(p))];
}

/** Phrases of the GeneralPoints-VL prompt (added only when GP-VL is trained): the image placeholder and the VL template lines. */
export const VL_PHRASES: readonly string[] = [
  "<|image|>",
  " points card game player. You are observing these four cards in the image.\n",
  "Your response should be a valid json file in the following format:\n",
  "you recognized wrong cards",
];

/** A byte tokenizer extended with whole-phrase tokens (ids 256..256+P-1), greedy longest match. */
export class PhraseTokenizer {
  readonly phrases: readonly string[];
  readonly vocabSize: number;
  private readonly phraseBytes: Uint8Array[];
  /** First byte -> phrase ids starting with it, longest first. */
  private readonly byFirst: Map<number, number[]>;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  constructor(phrases: readonly string[] = GP_PHRASES) {
    const seen = new Set<string>();
    for (const p of phrases) {
      if (p.length < 2) throw new Error(`PhraseTokenizer: phrase ${JSON.stringify(p)} must be at least 2 characters`);
      if (seen.has(p)) throw new Error(`PhraseTokenizer: duplicate phrase ${JSON.stringify(p)}`);
      seen.add(p);
    }
    this.phrases = [...phrases];
    this.vocabSize = 256 + phrases.length;
    this.phraseBytes = phrases.map((p) => this.enc.encode(p));
    this.byFirst = new Map();
    this.phraseBytes.forEach((b, i) => {
      const l = this.byFirst.get(b[0]) ?? [];
      l.push(i);
      this.byFirst.set(b[0], l);
    });
    for (const l of this.byFirst.values()) l.sort((a, b) => this.phraseBytes[b].length - this.phraseBytes[a].length);
  }
  encode(text: string): number[] {
    const bytes = this.enc.encode(text);
    const out: number[] = [];
    let i = 0;
    outer: while (i < bytes.length) {
      for (const pid of this.byFirst.get(bytes[i]) ?? []) {
        const pb = this.phraseBytes[pid];
        if (i + pb.length > bytes.length) continue;
        let ok = true;
        for (let j = 1; j < pb.length && ok; j++) ok = bytes[i + j] === pb[j];
        if (ok) {
          out.push(256 + pid);
          i += pb.length;
          continue outer;
        }
      }
      out.push(bytes[i++]);
    }
    return out;
  }
  decode(ids: readonly number[]): string {
    const parts: number[] = [];
    for (const id of ids) {
      if (id < 256) parts.push(id);
      else if (id < this.vocabSize) for (const b of this.phraseBytes[id - 256]) parts.push(b);
      else throw new Error(`PhraseTokenizer: id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    }
    return this.dec.decode(Uint8Array.from(parts));
  }
  id(phrase: string): number {
    const i = this.phrases.indexOf(phrase);
    if (i < 0) throw new Error(`PhraseTokenizer: ${JSON.stringify(phrase)} is not a phrase`);
    return 256 + i;
  }
}

/**
 * Render a conversation for generation: the token ids of every message and a trailing `<|assistant|>`, at most
 * `maxTokens` long. The first user message (the task) is always kept; older turns after it are dropped first.
 * Throws when even the task prompt does not fit.
 */
export function renderChat(tok: PhraseTokenizer, messages: readonly Message[], maxTokens: number): number[] {
  if (messages.length === 0) throw new Error("renderChat: messages must not be empty");
  const block = (m: Message) => tok.encode((m.role === "assistant" ? ASSISTANT : USER) + m.content + END);
  const head = block(messages[0]);
  const tail = tok.encode(ASSISTANT);
  const rest = messages.slice(1).map(block);
  let budget = maxTokens - head.length - tail.length;
  if (budget < 0) throw new Error(`renderChat: the task prompt (${head.length + tail.length} tokens) exceeds the context budget of ${maxTokens} tokens`);
  // Keep whole (assistant, user) pairs from the end so the history never starts with a dangling feedback.
  let start = rest.length;
  while (start > 0) {
    const step = start >= 2 && messages[start].role === "user" ? 2 : 1;
    const need = rest.slice(start - step, start).reduce((s, b) => s + b.length, 0);
    if (need > budget) break;
    budget -= need;
    start -= step;
  }
  return [...head, ...rest.slice(start).flat(), ...tail];
}

/** Tokens of an assistant answer as a training target: the text followed by `<|end|>`. */
export function answerTokens(tok: PhraseTokenizer, answer: string): number[] {
  return tok.encode(answer + END);
}
