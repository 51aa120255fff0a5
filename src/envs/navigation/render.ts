/**
 * Street-view renders for the navigation vision variant ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.2,
 * App. B.3): a 2x2 grid of views `[front, right / back, left]` with 5-pixel black separators, as in the released
 * environment. Each view is a simple drawing: sky, ground, buildings, a road when a street leaves in that
 * direction, a crossing band at intersections, and a landmark sign (glyph + name) when a landmark lies within the
 * view's 90° field of view nearby. The `harbor` style (other palette, glyph shapes and landmark names) is the visual
 * out-of-distribution city.
 */
import { Canvas, type RGBA } from "../../data/png.js";
import { headingBetween, type City, type CityStyle } from "./city.js";

type Palette = { sky: RGBA; ground: RGBA; road: RGBA; building: RGBA; window: RGBA; sign: RGBA; signText: RGBA; glyph: "circle" | "triangle" };
const PALETTES: Record<CityStyle, Palette> = {
  metro: { sky: [170, 200, 230, 255], ground: [110, 110, 110, 255], road: [60, 60, 64, 255], building: [150, 120, 100, 255], window: [230, 230, 200, 255], sign: [30, 60, 150, 255], signText: [255, 255, 255, 255], glyph: "circle" },
  harbor: { sky: [250, 200, 140, 255], ground: [200, 180, 130, 255], road: [120, 90, 60, 255], building: [90, 150, 140, 255], window: [250, 240, 220, 255], sign: [170, 40, 40, 255], signText: [255, 240, 200, 255], glyph: "triangle" },
};

function angleDiff(a: number, b: number): number {
  const d = (((a - b) % 360) + 540) % 360 - 180;
  return d;
}

/** Options of `renderViews`. */
export type ViewOptions = {
  /** Side of one view in pixels (released: 1200; default 160). */
  viewSize?: number;
  /** Landmarks farther than this many metres are not drawn (default 60). */
  visibleRange?: number;
};

/** One view from (x, y) looking toward `heading`. */
export function renderView(city: City, x: number, y: number, heading: number, atIntersection: boolean, opts: ViewOptions = {}): Canvas {
  const { viewSize = 160, visibleRange = 60 } = opts;
  const pal = PALETTES[city.style];
  const s = viewSize;
  const c = new Canvas(s, s, pal.sky);
  const horizon = Math.round(s * 0.45);
  c.fillRect(0, horizon, s, s - horizon, pal.ground);
  // buildings on both sides
  const bw = Math.round(s * 0.28);
  for (const left of [true, false]) {
    const bx = left ? 0 : s - bw;
    c.fillRect(bx, Math.round(s * 0.12), bw, horizon - Math.round(s * 0.12) + Math.round(s * 0.1), pal.building);
    for (let wy = Math.round(s * 0.16); wy < horizon; wy += Math.round(s * 0.08)) {
      for (let wx = bx + Math.round(bw * 0.15); wx < bx + bw - 4; wx += Math.round(bw * 0.3)) c.fillRect(wx, wy, Math.max(2, Math.round(s * 0.03)), Math.max(2, Math.round(s * 0.04)), pal.window);
    }
  }
  // nearest node: is there a street leaving in this direction?
  let near = 0;
  let best = Infinity;
  city.nodes.forEach((n, i) => {
    const d = (n.x - x) ** 2 + (n.y - y) ** 2;
    if (d < best) [best, near] = [d, i];
  });
  const streetAhead = city.adj[near].some((m) => Math.abs(angleDiff(headingBetween(city.nodes[near], city.nodes[m]), heading)) < 30) || Math.sqrt(best) > 5;
  if (streetAhead) c.fillTriangle(s * 0.5, horizon, s * 0.1, s, s * 0.9, s, pal.road);
  if (atIntersection) c.fillRect(0, Math.round(s * 0.7), s, Math.round(s * 0.12), pal.road);
  // landmarks in the field of view
  for (const lm of city.landmarkAt) {
    if (!lm) continue;
    const n = city.nodes[lm.node];
    const lx = n.x + Math.sin((lm.bearing * Math.PI) / 180) * 12;
    const ly = n.y + Math.cos((lm.bearing * Math.PI) / 180) * 12;
    const dist = Math.hypot(lx - x, ly - y);
    if (dist > visibleRange) continue;
    const rel = angleDiff(headingBetween({ x, y }, { x: lx, y: ly }), heading);
    if (Math.abs(rel) > 45) continue;
    const cx = Math.round(s / 2 + (rel / 45) * (s * 0.4));
    const r = Math.max(4, Math.round(s * 0.09));
    if (pal.glyph === "circle") c.fillCircle(cx, horizon - r * 2, r, pal.sign);
    else c.fillTriangle(cx, horizon - r * 3, cx - r, horizon - r, cx + r, horizon - r, pal.sign);
    const label = lm.name.toUpperCase().slice(0, Math.max(3, Math.floor(s / 14)));
    const sc = Math.max(1, Math.floor(s / 160));
    const tw = Canvas.textWidth(label, sc);
    const tx = Math.max(1, Math.min(s - tw - 1, Math.round(cx - tw / 2)));
    c.fillRect(tx - 2, horizon - r * 3 - 11 * sc, tw + 4, 9 * sc + 2, pal.sign);
    c.drawText(label, tx, horizon - r * 3 - 10 * sc, { scale: sc, color: pal.signText });
  }
  return c;
}

/** The 2x2 grid `[front, right / back, left]` with 5-px black separators. */
export function renderViews(city: City, x: number, y: number, heading: number, atIntersection: boolean, opts: ViewOptions = {}): Canvas {
  const { viewSize = 160 } = opts;
  const line = 5;
  const grid = new Canvas(viewSize * 2 + line, viewSize * 2 + line, [0, 0, 0, 255]);
  [0, 90, 180, 270].forEach((dh, i) => {
    const v = renderView(city, x, y, (heading + dh) % 360, atIntersection, opts);
    grid.blit(v, (i % 2) * (viewSize + line), Math.floor(i / 2) * (viewSize + line));
  });
  return grid;
}
