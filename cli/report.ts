import type { ProgressSample } from './progress';

/** Client traffic counters at a moment of the run (cumulative). */
export interface TrafficSample {
  /** Milliseconds since the run started. */
  readonly t: number;
  readonly ops: number;
  readonly misses: number;
}

export interface ReportInput {
  readonly title: string;
  readonly progress: readonly ProgressSample[];
  readonly traffic: readonly TrafficSample[];
  /** The summary as printed on the terminal. */
  readonly summary: string;
}

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const W = 860;
const H = 260;
const PAD = { left: 70, right: 20, top: 30, bottom: 40 };
/** Samples further apart than this are two runs (a node idle between phases): the line breaks. */
const GAP_MS = 3000;

/**
 * A self-contained HTML page (inline SVG, no script, nothing fetched) of a local run: items/s
 * received per node over time, and the client's operations/s and misses over time.
 */
export function renderReport(input: ReportInput): string {
  const nodes = [...new Set(input.progress.map((s) => s.node))];
  const perNode: Series[] = nodes.map((node, i) => ({
    name: node,
    color: COLORS[i % COLORS.length],
    points: rates(input.progress.filter((s) => s.node === node).map((s) => [s.t, s.items])),
  }));
  const traffic = input.traffic.map((s) => [s.t, s.ops] as const);
  const misses = input.traffic.map((s) => [s.t, s.misses] as const);
  const end = Math.max(1000, ...input.progress.map((s) => s.t), ...input.traffic.map((s) => s.t));
  const received = nodes.map((node) => {
    const last = input.progress.filter((s) => s.node === node).at(-1)!;
    return `<tr><td>${esc(node)}</td><td>${last.items.toLocaleString('en')}</td><td>${(last.bytes / 1e6).toFixed(1)}</td><td>${last.vbucketsDone}/${last.vbuckets}</td></tr>`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(input.title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
svg { background: #fafafa; border: 1px solid #ddd; }
.axis { stroke: #888; } .grid { stroke: #e4e4e4; } text { font-size: 11px; fill: #444; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f4f4f4; padding: 12px; overflow-x: auto; }
</style>
</head>
<body>
<h1>${esc(input.title)}</h1>
<h2>Items received per second, per receiving node</h2>
${nodes.length ? chart(perNode, end, 'items/s') : '<p>No node received data in this run.</p>'}
<h2>Client operations per second, and misses</h2>
${
  input.traffic.length
    ? chart(
        [
          { name: 'operations/s', color: '#1f77b4', points: rates(traffic) },
          { name: 'misses/s', color: '#d62728', points: rates(misses) },
        ],
        end,
        'per second',
      )
    : '<p>No client traffic ran during this run (astaire local scenario runs some).</p>'
}
<h2>Received, per node</h2>
<table><tr><th>node</th><th>items</th><th>MB</th><th>vbuckets</th></tr>${received.join('')}</table>
<h2>Summary</h2>
<pre>${esc(input.summary)}</pre>
</body>
</html>
`;
}

/**
 * Per-second rates between consecutive cumulative samples, at the later sample's time; none across a
 * silence longer than GAP_MS (an average over it would draw a rate nobody saw).
 */
function rates(points: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i][0] - points[i - 1][0]) / 1000;
    if (dt <= 0 || dt * 1000 > GAP_MS) continue;
    out.push([points[i][0], Math.max(0, (points[i][1] - points[i - 1][1]) / dt)]);
  }
  return out;
}

function chart(series: readonly Series[], endMs: number, unit: string): string {
  const max = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v))));
  const x = (t: number) => PAD.left + (t / endMs) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(
      `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}"/>`,
      `<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString('en')}</text>`,
    );
  }
  const step = Math.max(1, Math.ceil(endMs / 1000 / 10));
  for (let s = 0; s * 1000 <= endMs; s += step)
    parts.push(`<text x="${x(s * 1000)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${s} s</text>`);
  parts.push(
    `<line class="axis" x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${H - PAD.bottom}"/>`,
    `<line class="axis" x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${H - PAD.bottom}"/>`,
    `<text x="14" y="${PAD.top - 14}">${esc(unit)}</text>`,
  );
  for (const s of series)
    for (const run of runs(s.points))
      parts.push(
        `<polyline data-series="${esc(s.name)}" fill="none" stroke="${s.color}" stroke-width="2" points="${run
          .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
          .join(' ')}"/>`,
      );
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${PAD.left + i * 190}" y="${H - 12}" width="10" height="10" fill="${s.color}"/><text x="${PAD.left + i * 190 + 14}" y="${H - 3}">${esc(s.name)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 6}" role="img">${parts.join('')}${legend}</svg>`;
}

/** The points cut where two samples are more than GAP_MS apart: no line is drawn across a silence. */
function runs(points: readonly (readonly [number, number])[]): (readonly [number, number])[][] {
  const out: (readonly [number, number])[][] = [];
  for (const p of points) {
    const last = out.at(-1);
    if (last && p[0] - last[last.length - 1][0] <= GAP_MS) last.push(p);
    else out.push([p]);
  }
  return out;
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

function esc(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
