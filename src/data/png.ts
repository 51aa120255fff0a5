/**
 * A dependency-free PNG encoder (RGBA, 8 bits per channel, filter 0, zlib from node:zlib) and a small
 * RGBA `Canvas` with rectangles, discs, blits and a built-in 5x7 bitmap font.
 *
 * Used for the card images of GeneralPoints-VL and the street-view grids of the navigation task
 * ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.1 and §4.2), and reusable for any sample grid.
 * PNG format: RFC 2083 (signature, IHDR, IDAT, IEND; CRC-32 over chunk type + data).
 */
import { deflateSync } from "node:zlib";

/** RGBA colour, each channel 0..255. */
export type RGBA = readonly [number, number, number, number];

const CRC_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309 / PNG) of `bytes`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The eight signature bytes every PNG starts with. */
export const PNG_SIGNATURE = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);

/**
 * Encode an RGBA image (row-major, 4 bytes per pixel, `rgba.length === width * height * 4`) as PNG bytes.
 * Every scanline uses filter type 0 (None); compression is zlib level 6.
 */
export function encodePNG(width: number, height: number, rgba: Uint8Array): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePNG: width and height must be positive integers, got ${width}x${height}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new Error(`encodePNG: rgba has ${rgba.length} bytes, expected width*height*4 = ${width * height * 4}`);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  const stride = width * 4;
  const raw = new Uint8Array((stride + 1) * height); // each scanline: filter byte 0 + pixels
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const idat = new Uint8Array(deflateSync(raw, { level: 6 }));
  const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Parse `#rrggbb` (or `#rrggbbaa`) into an RGBA tuple. */
export function hexColor(hex: string): RGBA {
  const m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(hex);
  if (!m) throw new Error(`hexColor: expected "#rrggbb" or "#rrggbbaa", got ${JSON.stringify(hex)}`);
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255, m[2] ? parseInt(m[2], 16) : 255];
}

// 5x7 bitmap font: each glyph is 7 rows of 5 pixels ('#' on, '.' off). Lower case maps to upper case.
const FONT_ROWS: Record<string, string> = {
  A: ".###. #...# #...# ##### #...# #...# #...#",
  B: "####. #...# #...# ####. #...# #...# ####.",
  C: ".###. #...# #.... #.... #.... #...# .###.",
  D: "###.. #..#. #...# #...# #...# #..#. ###..",
  E: "##### #.... #.... ####. #.... #.... #####",
  F: "##### #.... #.... ####. #.... #.... #....",
  G: ".###. #...# #.... #.### #...# #...# .####",
  H: "#...# #...# #...# ##### #...# #...# #...#",
  I: ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
  J: "..### ...#. ...#. ...#. ...#. #..#. .##..",
  K: "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
  L: "#.... #.... #.... #.... #.... #.... #####",
  M: "#...# ##.## #.#.# #.#.# #...# #...# #...#",
  N: "#...# #...# ##..# #.#.# #..## #...# #...#",
  O: ".###. #...# #...# #...# #...# #...# .###.",
  P: "####. #...# #...# ####. #.... #.... #....",
  Q: ".###. #...# #...# #...# #.#.# #..#. .##.#",
  R: "####. #...# #...# ####. #.#.. #..#. #...#",
  S: ".#### #.... #.... .###. ....# ....# ####.",
  T: "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
  U: "#...# #...# #...# #...# #...# #...# .###.",
  V: "#...# #...# #...# #...# #...# .#.#. ..#..",
  W: "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
  X: "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
  Y: "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
  Z: "##### ....# ...#. ..#.. .#... #.... #####",
  "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
  "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
  "2": ".###. #...# ....# ...#. ..#.. .#... #####",
  "3": "####. ....# ....# .###. ....# ....# ####.",
  "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
  "5": "##### #.... ####. ....# ....# #...# .###.",
  "6": "..##. .#... #.... ####. #...# #...# .###.",
  "7": "##### ....# ...#. ..#.. .#... .#... .#...",
  "8": ".###. #...# #...# .###. #...# #...# .###.",
  "9": ".###. #...# #...# .#### ....# ...#. .##..",
  " ": "..... ..... ..... ..... ..... ..... .....",
  ".": "..... ..... ..... ..... ..... .##.. .##..",
  ",": "..... ..... ..... ..... .##.. ..#.. .#...",
  ":": "..... .##.. .##.. ..... .##.. .##.. .....",
  "-": "..... ..... ..... ##### ..... ..... .....",
  "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
  "*": "..... #.#.# .###. ##### .###. #.#.# .....",
  "/": "....# ....# ...#. ..#.. .#... #.... #....",
  "=": "..... ..... ##### ..... ##### ..... .....",
  "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
  ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
  "%": "##..# ##..# ...#. ..#.. .#... #..## #..##",
  "'": "..#.. ..#.. ..... ..... ..... ..... .....",
  "&": ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
  "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
  "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
  "_": "..... ..... ..... ..... ..... ..... #####",
};
const FALLBACK_GLYPH = "##### #...# #...# #...# #...# #...# #####";

/** Width and height of one font glyph in font pixels (before scaling); glyphs advance by 6. */
export const FONT_GLYPH = { width: 5, height: 7, advance: 6 } as const;

function glyphRows(ch: string): string[] {
  return (FONT_ROWS[ch.toUpperCase()] ?? FALLBACK_GLYPH).split(" ");
}

/** Options for `Canvas.drawText`. */
export type TextOptions = {
  /** Size of one font pixel in canvas pixels (default 1). */
  scale?: number;
  color?: RGBA;
};

/** A mutable RGBA raster with simple drawing primitives; `toPNG()` encodes it. */
export class Canvas {
  readonly width: number;
  readonly height: number;
  /** Pixels, row-major, 4 bytes each. */
  readonly data: Uint8Array;
  constructor(width: number, height: number, background: RGBA = [0, 0, 0, 255]) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new Error(`Canvas: width and height must be positive integers, got ${width}x${height}`);
    }
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }
  /** Set one pixel (out-of-bounds writes are ignored; alpha < 255 blends over the existing pixel). */
  setPixel(x: number, y: number, c: RGBA): void {
    x = Math.floor(x);
    y = Math.floor(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    const a = c[3];
    if (a >= 255) {
      this.data[i] = c[0];
      this.data[i + 1] = c[1];
      this.data[i + 2] = c[2];
      this.data[i + 3] = 255;
    } else if (a > 0) {
      const f = a / 255;
      for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(c[k] * f + this.data[i + k] * (1 - f));
      this.data[i + 3] = Math.max(this.data[i + 3], a);
    }
  }
  getPixel(x: number, y: number): RGBA {
    const i = (y * this.width + x) * 4;
    return [this.data[i], this.data[i + 1], this.data[i + 2], this.data[i + 3]];
  }
  /** Fill the axis-aligned rectangle [x, x+w) x [y, y+h), clipped to the canvas. */
  fillRect(x: number, y: number, w: number, h: number, c: RGBA): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.setPixel(xx, yy, c);
  }
  /** Outline of a rectangle, `t` pixels thick, drawn inside its bounds. */
  strokeRect(x: number, y: number, w: number, h: number, c: RGBA, t = 1): void {
    this.fillRect(x, y, w, t, c);
    this.fillRect(x, y + h - t, w, t, c);
    this.fillRect(x, y, t, h, c);
    this.fillRect(x + w - t, y, t, h, c);
  }
  /** Filled disc of radius r centred at (cx, cy). */
  fillCircle(cx: number, cy: number, r: number, c: RGBA): void {
    for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
      for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) this.setPixel(x, y, c);
      }
    }
  }
  /** Filled triangle (barycentric test over the bounding box). */
  fillTriangle(ax: number, ay: number, bx: number, by: number, cx: number, cy: number, c: RGBA): void {
    const minX = Math.floor(Math.min(ax, bx, cx));
    const maxX = Math.ceil(Math.max(ax, bx, cx));
    const minY = Math.floor(Math.min(ay, by, cy));
    const maxY = Math.ceil(Math.max(ay, by, cy));
    const area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
    if (area === 0) return;
    for (let y = minY; y <= maxY; y++) {
      for (let x = minX; x <= maxX; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        const w0 = ((bx - px) * (cy - py) - (by - py) * (cx - px)) / area;
        const w1 = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) / area;
        const w2 = 1 - w0 - w1;
        if (w0 >= 0 && w1 >= 0 && w2 >= 0) this.setPixel(x, y, c);
      }
    }
  }
  /** Draw a bitmap given as rows of '#' (on) / '.' (off), each bitmap pixel `scale` canvas pixels wide. */
  drawBitmap(rows: readonly string[], x: number, y: number, scale: number, c: RGBA): void {
    for (let r = 0; r < rows.length; r++) {
      for (let k = 0; k < rows[r].length; k++) {
        if (rows[r][k] === "#") this.fillRect(x + k * scale, y + r * scale, scale, scale, c);
      }
    }
  }
  /** Width in canvas pixels of `text` drawn at `scale`. */
  static textWidth(text: string, scale = 1): number {
    return text.length === 0 ? 0 : (text.length * FONT_GLYPH.advance - 1) * scale;
  }
  /** Draw `text` with the built-in 5x7 font, top-left corner at (x, y). Unknown characters draw as a box. */
  drawText(text: string, x: number, y: number, opts: TextOptions = {}): void {
    const { scale = 1, color = [0, 0, 0, 255] } = opts;
    let cx = x;
    for (const ch of text) {
      this.drawBitmap(glyphRows(ch), cx, y, scale, color);
      cx += FONT_GLYPH.advance * scale;
    }
  }
  /** Copy `src` onto this canvas with its top-left corner at (x, y), clipped; alpha blends. */
  blit(src: Canvas, x: number, y: number): void {
    for (let yy = 0; yy < src.height; yy++) {
      const ty = y + yy;
      if (ty < 0 || ty >= this.height) continue;
      for (let xx = 0; xx < src.width; xx++) {
        const tx = x + xx;
        if (tx < 0 || tx >= this.width) continue;
        const i = (yy * src.width + xx) * 4;
        this.setPixel(tx, ty, [src.data[i], src.data[i + 1], src.data[i + 2], src.data[i + 3]]);
      }
    }
  }
  /** Nearest-neighbour resize into a new canvas. */
  resize(width: number, height: number): Canvas {
    const out = new Canvas(width, height, [0, 0, 0, 0]);
    for (let y = 0; y < height; y++) {
      const sy = Math.min(this.height - 1, Math.floor((y * this.height) / height));
      for (let x = 0; x < width; x++) {
        const sx = Math.min(this.width - 1, Math.floor((x * this.width) / width));
        const si = (sy * this.width + sx) * 4;
        const di = (y * width + x) * 4;
        for (let k = 0; k < 4; k++) out.data[di + k] = this.data[si + k];
      }
    }
    return out;
  }
  toPNG(): Uint8Array {
    return encodePNG(this.width, this.height, this.data);
  }
}
