// Rates from successive readings of a counter (a high watermark, a
// committed offset): what the console shows as produce and consume rates.
// A reading older than STALE_MS (the page was away) starts afresh rather
// than averaging over the gap.
const last = new Map(); // key → {t, v, rate}
const STALE_MS = 15000;

export function observe(key, v, now = Date.now()) {
  const p = last.get(key);
  if (!p || now - p.t > STALE_MS || v < p.v) {
    last.set(key, { t: now, v, rate: null });
    return null;
  }
  if (now - p.t < 1000) return p.rate;
  const rate = (v - p.v) * 1000 / (now - p.t);
  last.set(key, { t: now, v, rate });
  return rate;
}
