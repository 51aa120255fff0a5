/**
 * Card images for GeneralPoints-VL, drawn by our own code ("SFT Memorizes, RL Generalizes", arXiv 2501.17161,
 * §4.1, §5.2, App. A.3). Layout as in the released environment: a square casino-green (`#35654d`) table, card width
 * `floor(size / 4 * 0.9)`, height `floor(width * 7 / 5)`, card i pasted at x = `5 + floor(i * width * 1.1)`,
 * vertically centred. Black suits (spades, clubs) for training and in-distribution, red suits (hearts, diamonds) for
 * the visual out-of-distribution split.
 */
import { Canvas, hexColor, type RGBA } from "../../data/png.js";
import { cardName, type Card, type Suit } from "./cards.js";

const SUIT_BITMAPS: Record<Suit, string[]> = {
  S: ["....#....", "...###...", "..#####..", ".#######.", "#########", "#########", ".##.#.##.", "....#....", "...###..."],
  H: [".##...##.", "####.####", "#########", "#########", ".#######.", "..#####..", "...###...", "....#....", "........."],
  D: ["....#....", "...###...", "..#####..", ".#######.", "#########", ".#######.", "..#####..", "...###...", "....#...."],
  C: ["...###...", "...###...", ".#.###.#.", "#########", "#########", ".#..#..#.", "....#....", "...###...", "........."],
};

/** Table colour of the released environment. */
export const TABLE_GREEN: RGBA = hexColor("#35654d");
const INK_BLACK: RGBA = [20, 20, 20, 255];
const INK_RED: RGBA = [200, 16, 32, 255];
const CARD_WHITE: RGBA = [250, 250, 246, 255];
const CARD_EDGE: RGBA = [120, 120, 120, 255];

/** Ink colour of a suit: red for hearts and diamonds, black for spades and clubs. */
export function suitInk(suit: Suit): RGBA {
  return suit === "H" || suit === "D" ? INK_RED : INK_BLACK;
}

/** Draw one card (rank in two corners, suit glyphs, a framed letter on face cards) on a new canvas. */
export function renderCard(card: Card, width: number, height: number): Canvas {
  const c = new Canvas(width, height, CARD_WHITE);
  const edge = Math.max(1, Math.round(width / 90));
  c.strokeRect(0, 0, width, height, CARD_EDGE, edge);
  const ink = suitInk(card.suit);
  const name = cardName(card.rank);
  const s = Math.max(1, Math.floor(width / 50)); // corner font pixel size
  const pad = Math.max(2, Math.round(width / 20));
  c.drawText(name, pad, pad, { scale: s, color: ink });
  c.drawBitmap(SUIT_BITMAPS[card.suit], pad, pad + 9 * s, s, ink);
  const tw = Canvas.textWidth(name, s);
  c.drawText(name, width - pad - tw, height - pad - 7 * s, { scale: s, color: ink });
  c.drawBitmap(SUIT_BITMAPS[card.suit], width - pad - 9 * s, height - pad - 17 * s, s, ink);
  const big = Math.max(1, Math.floor(width / 18));
  if (card.rank >= 11) {
    // face card: framed large letter over a suit glyph
    const fx = Math.round(width * 0.22);
    const fy = Math.round(height * 0.2);
    c.strokeRect(fx, fy, width - 2 * fx, height - 2 * fy, ink, Math.max(1, s));
    const ls = Math.max(1, Math.floor(big * 0.9));
    c.drawText(name, Math.round((width - Canvas.textWidth(name, ls)) / 2), Math.round(height / 2 - 8 * ls), { scale: ls, color: ink });
    const gs = Math.max(1, Math.floor(ls * 0.6));
    c.drawBitmap(SUIT_BITMAPS[card.suit], Math.round((width - 9 * gs) / 2), Math.round(height / 2 + ls), gs, ink);
  } else {
    c.drawBitmap(SUIT_BITMAPS[card.suit], Math.round((width - 9 * big) / 2), Math.round((height - 9 * big) / 2), big, ink);
  }
  return c;
}

/** Options for `renderHand`. */
export type RenderHandOptions = {
  /** Side of the square table in pixels (the released environment uses 1200). */
  size?: number;
};

/** Four cards side by side on the green table, as a canvas (call `.toPNG()` for bytes). */
export function renderHand(cards: readonly Card[], opts: RenderHandOptions = {}): Canvas {
  const { size = 1200 } = opts;
  if (!Number.isInteger(size) || size < 40) throw new Error(`renderHand: size must be an integer >= 40, got ${size}`);
  const table = new Canvas(size, size, TABLE_GREEN);
  const w = Math.floor((size / Math.max(1, cards.length)) * 0.9);
  const h = Math.floor((w * 7) / 5);
  cards.forEach((card, i) => {
    table.blit(renderCard(card, w, h), 5 + Math.floor(i * w * 1.1), Math.floor((size - h) / 2));
  });
  return table;
}
