/**
 * Charts as vega-lite specs (https://vega.github.io/vega-lite/), rendered in Node to SVG by vega's
 * headless view and to PNG by resvg. Specs are plain JSON, so a report can also embed them.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { Resvg } from "@resvg/resvg-js";

export type Series = { name: string; points: [number, number][] };
export type LineChartOptions = {
  title: string;
  series: Series[];
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Draw points as well as lines (for sparse series). */
  points?: boolean;
};

export function lineChartSpec(o: LineChartOptions): TopLevelSpec {
  const values = o.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => ({ x, y, series: s.name })));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: o.title,
    width: o.width ?? 520,
    height: o.height ?? 260,
    data: { values },
    mark: { type: "line", point: o.points ?? false, interpolate: "linear" },
    encoding: {
      x: { field: "x", type: "quantitative", title: o.xLabel, scale: o.logX ? { type: "log" } : { zero: false } },
      y: { field: "y", type: "quantitative", title: o.yLabel, scale: o.logY ? { type: "log" } : { zero: false } },
      color: { field: "series", type: "nominal", title: null },
    },
  } as TopLevelSpec;
}

export type BarChartOptions = { title: string; bars: { label: string; value: number; group?: string }[]; yLabel: string; width?: number; height?: number };

export function barChartSpec(o: BarChartOptions): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: o.title,
    width: o.width ?? 520,
    height: o.height ?? 260,
    data: { values: o.bars.map((b) => ({ label: b.label, value: b.value, group: b.group ?? b.label })) },
    mark: "bar",
    encoding: {
      x: { field: "label", type: "nominal", title: null, sort: null },
      y: { field: "value", type: "quantitative", title: o.yLabel },
      color: { field: "group", type: "nominal", title: null },
    },
  } as TopLevelSpec;
}

/** Render a vega-lite spec to an SVG string. */
export async function renderSVG(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Rasterise an SVG string to PNG bytes (2x for sharp text). */
export function svgToPNG(svg: string, scale = 2): Uint8Array {
  const r = new Resvg(svg, { fitTo: { mode: "zoom", value: scale }, font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } });
  return r.render().asPng();
}
