// Formatting for people: 1.2M, 3 s ago, 1.5 KiB.

export function num(n) {
  if (n === null || n === undefined || n < 0) return '–';
  const a = Math.abs(n);
  for (const [d, s] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
    if (a >= d) return (n / d).toFixed(a >= d * 10 ? 0 : 1).replace(/\.0$/, '') + s;
  }
  return String(Math.round(n));
}

export function bytes(n) {
  if (!(n >= 0)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n >= 10 ? 0 : 1) : n) + ' ' + u[i];
}

export function dur(ms) {
  if (!(ms >= 0)) return '–';
  if (ms < 1000) return Math.round(ms) + ' ms';
  const s = ms / 1000;
  if (s < 60) return (s < 10 ? s.toFixed(1).replace(/\.0$/, '') : Math.round(s)) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (Math.round(s % 60) ? Math.round(s % 60) + ' s' : '');
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.round((s % 86400) / 3600) + ' h';
}

export function ago(ms, now = Date.now()) {
  if (!ms) return 'never';
  const d = now - ms;
  if (d < 1000) return 'just now';
  return dur(d).trim() + ' ago';
}

export function time(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const pad = (x, n = 2) => String(x).padStart(n, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function rate(perSec) {
  if (perSec === null || perSec === undefined) return '–';
  return num(perSec) + '/s';
}

// assignment renders {"orders":[0,1,2]} as "orders 0–2".
export function parts(a) {
  if (!a) return '';
  return Object.keys(a).sort().map(t => `${t} ${ranges(a[t])}`).join(', ') || 'none';
}

function ranges(ps) {
  const out = [];
  for (let i = 0; i < ps.length; i++) {
    let j = i;
    while (j + 1 < ps.length && ps[j + 1] === ps[j] + 1) j++;
    out.push(j > i ? `${ps[i]}–${ps[j]}` : String(ps[i]));
    i = j;
  }
  return out.join(',');
}
