/** PNG encoder checks without a decoder: signature, IHDR fields, CRCs, and the inflated IDAT scanlines. */
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Canvas, crc32, encodePNG, PNG_SIGNATURE } from "./png.js";

function chunks(png: Uint8Array): { type: string; data: Uint8Array; crcOk: boolean }[] {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out = [];
  let off = 8;
  while (off < png.length) {
    const len = dv.getUint32(off);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    const data = png.subarray(off + 8, off + 8 + len);
    const crc = dv.getUint32(off + 8 + len);
    out.push({ type, data, crcOk: crc === crc32(png.subarray(off + 4, off + 8 + len)) });
    off += 12 + len;
  }
  return out;
}

describe("encodePNG", () => {
  it("CRC-32 golden value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
  it("signature, IHDR, CRCs, IDAT scanlines", () => {
    const w = 3, h = 2;
    const rgba = new Uint8Array(w * h * 4).map((_, i) => (i * 7) & 255);
    const png = encodePNG(w, h, rgba);
    expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    const cs = chunks(png);
    expect(cs.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"]);
    expect(cs.every((c) => c.crcOk)).toBe(true);
    const ihdr = new DataView(cs[0].data.buffer, cs[0].data.byteOffset, 13);
    expect([ihdr.getUint32(0), ihdr.getUint32(4), cs[0].data[8], cs[0].data[9], cs[0].data[12]]).toEqual([3, 2, 8, 6, 0]);
    const raw = new Uint8Array(inflateSync(cs[1].data));
    expect(raw.length).toBe(h * (w * 4 + 1));
    for (let y = 0; y < h; y++) {
      expect(raw[y * (w * 4 + 1)]).toBe(0);
      expect(raw.subarray(y * (w * 4 + 1) + 1, (y + 1) * (w * 4 + 1))).toEqual(rgba.subarray(y * w * 4, (y + 1) * w * 4));
    }
    expect(() => encodePNG(2, 2, new Uint8Array(3))).toThrow(/expected width\*height\*4/);
  });
  it("Canvas draws rectangles, text and blits", () => {
    const c = new Canvas(40, 20, [0, 128, 0, 255]);
    c.fillRect(1, 1, 2, 2, [255, 0, 0, 255]);
    expect(c.getPixel(1, 1)).toEqual([255, 0, 0, 255]);
    expect(c.getPixel(3, 3)).toEqual([0, 128, 0, 255]);
    c.drawText("A", 10, 5, { color: [255, 255, 255, 255] });
    expect(c.getPixel(12, 5)).toEqual([255, 255, 255, 255]); // top of the A
    expect(c.getPixel(10, 5)).toEqual([0, 128, 0, 255]);
    const s = new Canvas(2, 2, [1, 2, 3, 255]);
    c.blit(s, 39, 19);
    expect(c.getPixel(39, 19)).toEqual([1, 2, 3, 255]);
    expect(Canvas.textWidth("AB", 2)).toBe(22);
    expect(chunks(c.toPNG()).every((x) => x.crcOk)).toBe(true);
  });
});
