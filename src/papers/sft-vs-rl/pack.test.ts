import { describe, expect, it } from "vitest";
import { firstResponseColumn, packRows, responseWidth, type PackRow } from "./pack.js";

describe("packRows: the response-only layout shared by the SFT step and the PPO learner", () => {
  // Row 0: prompt [5, 6, 7], response [8, 9]; row 1: prompt [1], response [2, 3, 4] (weights 0.5, 1, 2).
  const rows: PackRow[] = [
    { seq: [5, 6, 7, 8, 9], promptLen: 3, weight: () => 1 },
    { seq: [1, 2, 3, 4], promptLen: 1, weight: (j) => [0.5, 1, 2][j] },
  ];

  it("whole rows: targets at every position, weight only on response targets", () => {
    const { x, y, w, pick } = packRows(rows, 6, null);
    expect(Array.from(x)).toEqual([5, 6, 7, 8, 0, 0, 1, 2, 3, 0, 0, 0]);
    expect(Array.from(y)).toEqual([6, 7, 8, 9, 0, 0, 2, 3, 4, 0, 0, 0]);
    expect(Array.from(w)).toEqual([0, 0, 1, 1, 0, 0, 0.5, 1, 2, 0, 0, 0]);
    expect(pick).toBeNull();
  });

  it("response columns keep each target's position residue mod 16, and pick its position", () => {
    expect(firstResponseColumn(3)).toBe(2);
    expect(firstResponseColumn(17)).toBe(0);
    // Row 0 needs columns 2..3, row 1 columns 0..2: R = 4 rounded up to 4, at most T.
    expect(responseWidth(rows, 6, 4)).toBe(4);
    expect(responseWidth(rows, 6, 16)).toBe(6);
    const { y, w, pick } = packRows(rows, 6, 4);
    expect(Array.from(y)).toEqual([0, 0, 8, 9, 2, 3, 4, 0]);
    expect(Array.from(w)).toEqual([0, 0, 1, 1, 0.5, 1, 2, 0]);
    // Column c of row b reads position t where pick[(b·R + c)·T + t] = 1: row 0's target 8 is predicted at t = 2.
    const at = (b: number, c: number) => Array.from(pick!.slice((b * 4 + c) * 6, (b * 4 + c + 1) * 6)).indexOf(1);
    expect([at(0, 0), at(0, 1), at(0, 2), at(0, 3), at(1, 0), at(1, 1), at(1, 2), at(1, 3)]).toEqual([-1, -1, 2, 3, 0, 1, 2, -1]);
  });

  it("a row longer than T + 1 is refused", () => {
    expect(() => packRows(rows, 3, null)).toThrow(/row 0 has 5 tokens, more than T \+ 1 = 4/);
  });
});
