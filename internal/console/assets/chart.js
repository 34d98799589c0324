// A line chart drawn as inline SVG: times on x, values on y, one path per
// series; -1 values are gaps (no sample).
import { num, time } from './fmt.js';

const NS = 'http://www.w3.org/2000/svg';
const AXIS_CHAR_PX = 7; // the widest a character of an axis label (11 px, style.css) draws
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const k of kids) el.append(typeof k === 'string' ? document.createTextNode(k) : k);
  return el;
}

export const color = i => PALETTE[i % PALETTE.length];

// lineChart returns an <svg> width px wide. opts: {times, series:[{name,
// values}], label, format}.
export function lineChart({ times, series, label, format = num, width = 640, height = 180 }) {
  let maxV = 0;
  for (const se of series) for (const v of se.values) if (v > maxV) maxV = v;
  maxV = niceCeil(maxV / 4) * 4; // four gridlines at round values
  // The y labels are right-aligned at pad.l: it leaves room for the
  // longest ("3 min 20 s" needs 70 px; a fixed 52 px cut its start off).
  const labels = [0, 1, 2, 3, 4].map(i => format(maxV * i / 4));
  const pad = { l: Math.max(52, 12 + Math.ceil(AXIS_CHAR_PX * Math.max(...labels.map(l => l.length)))), r: 12, t: 12, b: 24 };
  const w = Math.max(width, 240), ht = height;
  const iw = w - pad.l - pad.r, ih = ht - pad.t - pad.b;
  const t0 = times[0], t1 = times[times.length - 1] || t0 + 1;
  const x = t => pad.l + (t1 > t0 ? (t - t0) / (t1 - t0) : 0) * iw;
  const y = v => pad.t + ih - (maxV ? v / maxV : 0) * ih;
  const svg = s('svg', { width: w, height: ht, viewBox: `0 0 ${w} ${ht}`, role: 'img', 'aria-label': label, class: 'chart' });
  svg.append(s('title', {}, label));
  for (let i = 0; i <= 4; i++) {
    const yy = y(maxV * i / 4);
    svg.append(s('line', { x1: pad.l, x2: w - pad.r, y1: yy, y2: yy, class: 'grid' }));
    svg.append(s('text', { x: pad.l - 6, y: yy + 4, 'text-anchor': 'end', class: 'axis' }, labels[i]));
  }
  const ticks = Math.max(2, Math.min(5, Math.floor(iw / 140)));
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + (t1 - t0) * i / ticks;
    svg.append(s('text', { x: x(t), y: ht - 6, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle', class: 'axis' }, time(t).slice(11)));
  }
  series.forEach((se, i) => {
    let d = '', pen = false, pts = 0;
    se.values.forEach((v, j) => {
      if (v < 0) { pen = false; return; }
      d += (pen ? 'L' : 'M') + x(times[j]).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
      pts++;
    });
    if (pts === 1) d += 'h2'; // a lone sample still shows
    const p = s('path', { d, fill: 'none', stroke: se.color || color(i), 'stroke-width': 2, class: 'line', 'data-series': se.name });
    p.append(s('title', {}, se.name));
    svg.append(p);
  });
  return svg;
}

function niceCeil(v) {
  if (v <= 0) return 1;
  if (v < 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
