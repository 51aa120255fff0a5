/**
 * A synthetic city for the navigation task of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, §4.2, App. B;
 * V-IRL's New York routes and street views are external data): a street graph of jittered grid intersections
 * with avenues and a few diagonal streets (so all 8 compass headings occur), and named landmarks on intersection
 * corners. Two styles: `metro` (training and in-distribution, like the paper's NYC) and `harbor` (another
 * landmark set and look, the visual out-of-distribution "city").
 */
import { Rng } from "../../util/rng.js";

export type CityStyle = "metro" | "harbor";
export const CITY_STYLES: readonly CityStyle[] = ["metro", "harbor"];

/** An intersection; x grows east, y grows north, in metres. */
export type CityNode = { id: number; x: number; y: number };
/** A landmark on a corner of an intersection, `bearing` degrees clockwise from north as seen from the node. */
export type Landmark = { name: string; kind: string; node: number; bearing: number };
export type City = {
  style: CityStyle;
  nodes: CityNode[];
  /** Neighbours of each node. */
  adj: number[][];
  /** At most one landmark per node. */
  landmarkAt: (Landmark | null)[];
};

const KINDS: Record<CityStyle, readonly string[]> = {
  metro: ["Hotel", "Cafe", "Bank", "Pharmacy", "Bakery", "Library", "Theater", "Diner"],
  harbor: ["Temple", "Market", "Tea House", "Gallery", "Lighthouse", "Fish Hall", "Pagoda", "Dock"],
};
const NAMES: Record<CityStyle, readonly string[]> = {
  metro: ["Astor", "Baxter", "Carlton", "Delancey", "Essex", "Fulton", "Gansevoort", "Hudson", "Irving", "Jay", "Kenmare", "Lafayette", "Mercer", "Nassau", "Orchard", "Pearl", "Rivington", "Spring", "Thompson", "Varick", "Warren", "York"],
  harbor: ["Azure", "Coral", "Jade", "Lotus", "Maple", "Pebble", "Saffron", "Willow", "Amber", "Cedar", "Dune", "Ember", "Fern", "Harbor", "Ivory", "Kelp", "Lagoon", "Mist", "Opal", "Reef", "Tide", "Zephyr"],
};

/** Options of `buildCity`. */
export type CityOptions = {
  /** Intersections per side of the grid (default 8). */
  size?: number;
  /** Block length in metres (default 100). */
  block?: number;
  /** Probability that an intersection has a landmark (default 0.6). */
  landmarkRate?: number;
};

/** Heading in degrees clockwise from north, in [0, 360), from a to b. */
export function headingBetween(a: { x: number; y: number }, b: { x: number; y: number }): number {
  const h = (Math.atan2(b.x - a.x, b.y - a.y) * 180) / Math.PI;
  return (h + 360) % 360;
}

/** Build the city of a style; the same (style, seed) always gives the same city. */
export function buildCity(style: CityStyle, seed: number, opts: CityOptions = {}): City {
  const { size = 8, block = 100, landmarkRate = 0.6 } = opts;
  if (!CITY_STYLES.includes(style)) throw new Error(`city: style must be one of ${CITY_STYLES.join(", ")}, got ${JSON.stringify(style)}`);
  const rng = Rng.stream(seed, `city/${style}`);
  const nodes: CityNode[] = [];
  const jitter = block * 0.04;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) nodes.push({ id: j * size + i, x: i * block + (rng.next() * 2 - 1) * jitter, y: j * block + (rng.next() * 2 - 1) * jitter });
  }
  const adj: number[][] = nodes.map(() => []);
  const link = (a: number, b: number) => {
    if (!adj[a].includes(b)) adj[a].push(b);
    if (!adj[b].includes(a)) adj[b].push(a);
  };
  const id = (i: number, j: number) => j * size + i;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      if (i + 1 < size) link(id(i, j), id(i + 1, j));
      if (j + 1 < size) link(id(i, j), id(i, j + 1));
    }
  }
  // diagonal streets: two NE-SW and two NW-SE lines
  for (let k = 0; k < 2; k++) {
    const o = 1 + rng.int(size - 3);
    for (let t = 0; t + 1 < size; t++) {
      if (o + t + 1 < size) link(id(t, o + t), id(t + 1, o + t + 1));
      if (size - 1 - o - t - 1 >= 0 && t + 1 < size) link(id(t, size - 1 - o - t), id(t + 1, size - 2 - o - t));
    }
  }
  const landmarkAt: (Landmark | null)[] = nodes.map(() => null);
  const used = new Set<string>();
  for (const n of nodes) {
    if (rng.next() >= landmarkRate) continue;
    let name = "";
    for (let tries = 0; tries < 50; tries++) {
      const kind = rng.pick(KINDS[style]);
      const cand = `${rng.pick(NAMES[style])} ${kind}`;
      if (!used.has(cand)) {
        name = cand;
        break;
      }
    }
    if (!name) continue;
    used.add(name);
    const kind = name.slice(name.indexOf(" ") + 1);
    landmarkAt[n.id] = { name, kind, node: n.id, bearing: 45 + 90 * rng.int(4) };
  }
  return { style, nodes, adj, landmarkAt };
}
