// Rates from successive readings of a counter (a high watermark, a
// committed offset): what the console shows as produce and consume rates.
const last = new Map(); // key → {t, v, rate}

export function observe(key, v, now = Date.now()) {
  const p = last.get(key);
  let rate = p ? p.rate : null;
  if (p && now - p.t >= 1000) {
    rate = Math.max(0, (v - p.v) * 1000 / (now - p.t));
    last.set(key, { t: now, v, rate });
  } else if (!p) {
    last.set(key, { t: now, v, rate: null });
  }
  return rate;
}
