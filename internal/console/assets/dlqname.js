// The name of a topic's dead letter queue, by the broker's rule (api.DLQName
// in api/dlq.go): topic + ".dlq" when that fits in 249 characters;
// otherwise the first 228 characters, "-", the first 16 hex digits of the
// SHA-256 of the whole name, and ".dlq". The console mirrors it rather than
// guess from the suffix, so the DLQ of a long topic is found too; a test
// compares it with the Go function. SHA-256 is computed here because
// crypto.subtle exists only on secure origins, and a broker is often
// reached over plain HTTP by its host name.

const SUFFIX = '.dlq', MAX = 249, HASH = 16;

export function dlqName(topic) {
  const b = new TextEncoder().encode(topic); // topic names are ASCII; bytes, as Go counts
  if (b.length + SUFFIX.length <= MAX) return topic + SUFFIX;
  const prefix = MAX - SUFFIX.length - 1 - HASH;
  return new TextDecoder().decode(b.subarray(0, prefix)) + '-' + sha256hex(b).slice(0, HASH) + SUFFIX;
}

// The round constants: the first 32 bits of the fractional parts of the
// cube roots of the first 64 primes (FIPS 180-4 §4.2.2).
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// sha256hex returns the SHA-256 of the bytes b in hex (FIPS 180-4 §6.2).
export function sha256hex(b) {
  // Pad: a 1 bit, zeros, and the length in bits as 64 bits big-endian, to
  // a multiple of 64 bytes.
  const n = Math.ceil((b.length + 9) / 64) * 64;
  const m = new Uint8Array(n);
  m.set(b);
  m[b.length] = 0x80;
  const dv = new DataView(m.buffer);
  dv.setUint32(n - 8, Math.floor(b.length / 0x20000000));
  dv.setUint32(n - 4, (b.length * 8) >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const W = new Uint32Array(64);
  const rotr = (x, r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < n; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = dv.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
      const s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
      W[i] = W[i - 16] + s0 + W[i - 7] + s1;
    }
    let [a, b2, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b2) ^ (a & c) ^ (b2 & c))) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b2; b2 = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b2; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  return [...H].map(x => x.toString(16).padStart(8, '0')).join('');
}
