/**
 * Routes, instructions and the expert rail for the navigation task ("SFT Memorizes, RL Generalizes",
 * arXiv 2501.17161, §4.2, App. B.3; released `navigation_environment.py`):
 * - a route = start, turning intersections (some with a landmark), straight roads, destination;
 * - instructions from the notes' templates: `First, turn {rel} to face {abs}.`, `Move forward until you reach next
 *   intersection where {landmark}.` (or `... next intersection.`), `Turn {rel} to face {abs}.`, and last
 *   `Move forward until you reach destination where {landmark}.`; `{rel}` from Δ = next − previous heading with no
 *   wrap-around (Δ < −45 left, Δ > 45 right, −45 ≤ Δ ≤ 0 slightly left, else slightly right);
 * - the rail: start, then per road `straightLineLength` (5) interpolated points each dropped with probability
 *   `dropRate` (0.5), then the intersection ...; expert action `turn_direction(x)` at the start and intersections,
 *   `forward()` on straight points, `stop()` at the destination.
 */
import type { Rng } from "../../util/rng.js";
import { headingBetween, type City } from "./city.js";

export const ABSOLUTE_DIRECTIONS = ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"] as const;
export const RELATIVE_DIRECTIONS = ["left", "right", "slightly left", "slightly right"] as const;
export type ActionSpace = "absolute" | "relative";
export const ACTION_SPACES: readonly ActionSpace[] = ["absolute", "relative"];

/** Nearest of the 8 compass names for a heading in degrees. */
export function compassName(heading: number): string {
  return ABSOLUTE_DIRECTIONS[Math.round((((heading % 360) + 360) % 360) / 45) % 8];
}

/** The released code's relative turn name for Δ degrees (no wrap-around). */
export function relativeTurn(delta: number): (typeof RELATIVE_DIRECTIONS)[number] {
  if (delta < -45) return "left";
  if (delta > 45) return "right";
  if (delta <= 0) return "slightly left";
  return "slightly right";
}

/** `{name} is on your {side} {front|behind}` for a landmark seen while heading `heading`. */
export function landmarkPhrase(name: string, landmarkBearing: number, heading: number): string {
  const b = (((landmarkBearing - heading) % 360) + 360) % 360;
  const side = b < 180 ? "right" : "left";
  const fb = b < 90 || b > 270 ? "front" : "behind";
  return `${name} is on your ${side} ${fb}`;
}

export const NO_LANDMARKS = "No landmarks nearby";
export const INTERSECTION_OBS = "You observe an intersection";

/** One movable point of the expert rail. */
export type RailPoint = {
  x: number;
  y: number;
  /** Heading of the agent on arrival (degrees). */
  heading: number;
  /** Expert action in the absolute and the relative action space. */
  absoluteAction: string;
  relativeAction: string;
  /** Landmark phrase or "No landmarks nearby". */
  landmark: string;
  intersection: boolean;
  /** Graph node at this point, or null on a straight road. */
  node: number | null;
  /** 1-based index of the instruction sentence being executed. */
  instructionIndex: number;
};

export type Route = {
  start: number;
  destination: number;
  /** Node ids: start, turning intersections, destination. */
  milestones: number[];
  initialHeading: number;
  /** The numbered instruction sentences (without numbers). */
  sentences: string[];
  rail: RailPoint[];
};

/** Options of `generateRoute`. */
export type RouteOptions = {
  /** Number of straight legs (start turn + intersections), drawn uniformly in [minLegs, maxLegs]. Default 2..4. */
  minLegs?: number;
  maxLegs?: number;
  /** Interpolated points per road (released: 5). */
  straightLineLength?: number;
  /** Probability of dropping each interpolated point (released: 0.5). */
  dropRate?: number;
};

/** The instruction text: `1. First, turn ...\n2. Move forward ...\n`. */
export function instructionText(sentences: readonly string[]): string {
  return sentences.map((s, i) => `${i + 1}. ${s}\n`).join("");
}

function angleDiff(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

/** Draw a route in the city; retries internally until the walk has the requested legs. */
export function generateRoute(city: City, rng: Rng, opts: RouteOptions = {}): Route {
  const { minLegs = 2, maxLegs = 4, straightLineLength = 5, dropRate = 0.5 } = opts;
  const N = city.nodes;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const legsWanted = minLegs + rng.int(maxLegs - minLegs + 1);
    const start = rng.int(N.length);
    const visited = new Set<number>([start]);
    const milestones = [start];
    const legHeadings: number[] = [];
    let cur = start;
    let prevHeading: number | null = null;
    let ok = true;
    for (let leg = 0; leg < legsWanted && ok; leg++) {
      const options = city.adj[cur].filter((n) => {
        if (visited.has(n)) return false;
        if (prevHeading === null) return true;
        const d = angleDiff(headingBetween(N[cur], N[n]), prevHeading);
        return d >= 30 && d <= 150;
      });
      if (options.length === 0) {
        ok = false;
        break;
      }
      let next = rng.pick(options);
      const h = headingBetween(N[cur], N[next]);
      visited.add(next);
      cur = next;
      // keep going straight for 0..2 more blocks when the street continues
      const extra = rng.int(3);
      for (let k = 0; k < extra; k++) {
        const cont = city.adj[cur].find((n) => !visited.has(n) && angleDiff(headingBetween(N[cur], N[n]), h) < 15);
        if (cont === undefined) break;
        visited.add(cont);
        next = cont;
        cur = cont;
      }
      milestones.push(cur);
      legHeadings.push(h);
      prevHeading = h;
    }
    if (!ok) continue;
    const dest = milestones[milestones.length - 1];
    if (!city.landmarkAt[dest]) continue; // a destination is a named place
    const initialHeading = rng.int(360);
    // instruction sentences
    const sentences: string[] = [];
    const absActions: string[] = [];
    const relActions: string[] = [];
    const phrases: string[] = [];
    for (let k = 0; k < legHeadings.length; k++) {
      const before = k === 0 ? initialHeading : legHeadings[k - 1];
      const rel = relativeTurn(Math.round(legHeadings[k]) - Math.round(before));
      const abs = compassName(legHeadings[k]);
      absActions.push(`turn_direction(${abs})`);
      relActions.push(`turn_direction(${rel})`);
      const lm = city.landmarkAt[milestones[k + 1]];
      const phrase = lm ? landmarkPhrase(lm.name, lm.bearing, legHeadings[k]) : NO_LANDMARKS;
      phrases.push(phrase);
      sentences.push(`${k === 0 ? "First, turn" : "Turn"} ${rel} to face ${abs}.`);
      if (k === legHeadings.length - 1) sentences.push(`Move forward until you reach destination where ${phrase}.`);
      else if (lm) sentences.push(`Move forward until you reach next intersection where ${phrase}.`);
      else sentences.push("Move forward until you reach next intersection.");
    }
    // the rail
    const rail: RailPoint[] = [];
    const s0 = N[start];
    rail.push({ x: s0.x, y: s0.y, heading: initialHeading, absoluteAction: absActions[0], relativeAction: relActions[0], landmark: NO_LANDMARKS, intersection: false, node: start, instructionIndex: 1 });
    for (let k = 0; k < legHeadings.length; k++) {
      const a = N[milestones[k]];
      const b = N[milestones[k + 1]];
      const h = legHeadings[k];
      for (let i = 0; i < straightLineLength; i++) {
        if (rng.next() < dropRate) continue;
        const f = (i + 1) / (straightLineLength + 1);
        rail.push({ x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f, heading: h, absoluteAction: "forward()", relativeAction: "forward()", landmark: NO_LANDMARKS, intersection: false, node: null, instructionIndex: 2 * k + 2 });
      }
      const last = k === legHeadings.length - 1;
      rail.push({
        x: b.x,
        y: b.y,
        heading: h,
        absoluteAction: last ? "stop()" : absActions[k + 1],
        relativeAction: last ? "stop()" : relActions[k + 1],
        landmark: phrases[k],
        intersection: !last,
        node: milestones[k + 1],
        instructionIndex: last ? 2 * k + 2 : 2 * k + 3,
      });
    }
    return { start, destination: dest, milestones, initialHeading, sentences, rail };
  }
  throw new Error("navigation: could not draw a route in 1000 attempts (city too small for the requested legs: minLegs/maxLegs)");
}
