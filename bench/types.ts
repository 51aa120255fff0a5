/** One printed benchmark figure (one JSON line). Ratios are against a baseline measured in the same run. */
export type BenchFigure = {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  /** What `ratio` compares against, measured in the same process run. */
  baseline?: string;
  ratio?: number;
  [k: string]: unknown;
};
export type BenchFn = () => Promise<BenchFigure[]>;
