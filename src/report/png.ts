/**
 * Image encoding moved to `src/data/png.ts` (below both the environments and the reports); this
 * re-export keeps the paper folders' imports working until they import it from there.
 */
export * from "../data/png.js";
