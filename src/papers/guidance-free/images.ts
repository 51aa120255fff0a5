/**
 * PNG pictures for the guidance-free report: scatter panels of 2-D samples (coloured by class) and digit
 * grids (one row per class), drawn on the foundation's `Canvas` and encoded by `encodePNG`.
 */
import { Canvas, type RGBA } from "../../data/png.js";

const PALETTE: RGBA[] = [
  [31, 119, 180, 255],
  [255, 127, 14, 255],
  [44, 160, 44, 255],
  [214, 39, 40, 255],
  [148, 103, 189, 255],
  [140, 86, 75, 255],
  [227, 119, 194, 255],
  [127, 127, 127, 255],
  [188, 189, 34, 255],
  [23, 190, 207, 255],
];

/** Panels [row][col] of 2-D points [n·2] with class labels, each drawn in a square over [−extent, extent]². */
export function scatterPanelPNG(panels: { title: string; points: Float32Array; labels: Int32Array }[][], K: number, extent: number, size = 200): Uint8Array {
  const head = 14;
  const rows = panels.length;
  const cols = Math.max(...panels.map((r) => r.length));
  const c = new Canvas(cols * (size + 6) + 6, rows * (size + head + 6) + 6, [255, 255, 255, 255]);
  panels.forEach((row, ri) =>
    row.forEach((p, ci) => {
      const x0 = 6 + ci * (size + 6);
      const y0 = 6 + ri * (size + head + 6);
      c.drawText(p.title, x0, y0, { color: [0, 0, 0, 255] });
      c.strokeRect(x0, y0 + head - 2, size, size, [200, 200, 200, 255]);
      const n = p.points.length / 2;
      for (let i = 0; i < n; i++) {
        const px = x0 + ((p.points[2 * i] + extent) / (2 * extent)) * size;
        const py = y0 + head - 2 + ((extent - p.points[2 * i + 1]) / (2 * extent)) * size;
        const col = PALETTE[p.labels[i] % Math.min(K, PALETTE.length)];
        c.fillRect(px - 1, py - 1, 2, 2, [col[0], col[1], col[2], 160]);
      }
    }),
  );
  return c.toPNG();
}

/**
 * Columns of digit grids: each column shows `show` samples per class (rows = classes) of images [n·side²] in
 * [0, 1] stored class by class with `perClass` each; `title` above each column.
 */
export function digitGridPNG(cols: { title: string; images: Float32Array; perClass: number }[], side: number, K: number, show: number, scale = 3): Uint8Array {
  const cell = side * scale + 1;
  const colW = Math.max(show * cell + 8, 6 * 20);
  const head = 12;
  const c = new Canvas(cols.length * colW + 4, head + K * cell + 6, [255, 255, 255, 255]);
  cols.forEach((col, ci) => {
    const x0 = 4 + ci * colW;
    c.drawText(col.title.replace("GFT fine-tuned", "GFT ft").replace("@", " w=").slice(0, 20), x0, 2, { color: [0, 0, 0, 255] });
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < Math.min(show, col.perClass); j++) {
        const idx = k * col.perClass + j;
        for (let r = 0; r < side; r++) {
          for (let q = 0; q < side; q++) {
            const v = Math.round(255 * (1 - Math.min(1, Math.max(0, col.images[idx * side * side + r * side + q]))));
            c.fillRect(x0 + j * cell + q * scale, head + k * cell + r * scale, scale, scale, [v, v, v, 255]);
          }
        }
      }
    }
  });
  return c.toPNG();
}
