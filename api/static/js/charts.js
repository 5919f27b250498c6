// Thin wrappers over uPlot (installed from npm by `make assets`, served from /vendor).

import uPlot from "../vendor/uPlot.esm.js";
import { fmtVital } from "./format.js";

const AXIS = { stroke: "#9aa7b5", grid: { stroke: "rgba(154,167,181,0.15)" }, ticks: { stroke: "rgba(154,167,181,0.3)" } };

/** A sparkline: one series, no axes, no cursor; sized to its container. */
export function sparkline(container, times, values, color) {
  const width = Math.max(60, container.clientWidth || 160);
  const opts = {
    width,
    height: 30,
    pxAlign: false,
    cursor: { show: false },
    select: { show: false },
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: color, width: 1.5, fill: `${color}22`, spanGaps: true, points: { show: false } }],
  };
  return new uPlot(opts, [times, values], container);
}

/**
 * A vitals chart over time, with optional shaded normal band and vertical alert markers.
 * @param {HTMLElement} container
 * @param {{title: string, series: {label, color, key, digits}[], band?: [number, number],
 *          range?: [number, number], window?: [number, number], sparse?: boolean,
 *          markers?: {ts: number, color: string}[], height?: number}} spec
 *   `range` is the least y range shown (so a 1 % SpO₂ wobble does not fill the chart);
 *   `window` fixes the x axis (e.g. the last 24 h); `sparse` series (a cuff's readings)
 *   are drawn as points joined across gaps.
 * @param {number[]} times epoch seconds
 * @param {(number|null)[][]} columns one array per series
 */
export function vitalsChart(container, spec, times, columns) {
  const markers = spec.markers || [];
  const band = spec.band;
  const opts = {
    title: spec.title,
    width: Math.max(280, Math.floor(container.getBoundingClientRect().width) - 8 || 600),
    height: spec.height || 180,
    scales: {
      x: spec.window ? { time: true, range: () => spec.window } : { time: true },
      y: spec.range
        ? { range: (u, lo, hi) => [Math.min(lo ?? spec.range[0], spec.range[0]), Math.max(hi ?? spec.range[1], spec.range[1])] }
        : {},
    },
    axes: [{ ...AXIS }, { ...AXIS, size: 52 }],
    series: [
      {},
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        spanGaps: !!spec.sparse,
        points: { show: !!spec.sparse, size: 5, fill: s.color },
        value: (u, v) => (v === null || v === undefined ? "–" : fmtVital(s.key, v)),
      })),
    ],
    hooks: {
      drawClear: [
        (u) => {
          if (!band) return;
          const { ctx } = u;
          const top = u.valToPos(band[1], "y", true);
          const bottom = u.valToPos(band[0], "y", true);
          ctx.save();
          ctx.fillStyle = "rgba(63, 182, 139, 0.08)";
          ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
          ctx.restore();
        },
      ],
      draw: [
        (u) => {
          const { ctx } = u;
          ctx.save();
          for (const m of markers) {
            const x = u.valToPos(m.ts, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = m.color;
            ctx.lineWidth = 2;
            ctx.setLineDash([4, 3]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
  return new uPlot(opts, [times, ...columns], container);
}

/** Keep charts as wide as their containers (wall displays get resized and rotated). */
export function autoResize(container, plot, height) {
  const ro = new ResizeObserver((entries) => {
    // contentRect excludes padding: using clientWidth here would grow the chart forever.
    const w = Math.floor(entries[0].contentRect.width);
    if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: height || plot.height });
  });
  ro.observe(container);
  return () => ro.disconnect();
}
