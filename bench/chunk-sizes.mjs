#!/usr/bin/env node
// How many bytes of new chunks W4's edits cost with given chunk sizes, without a hub: random
// data is cut, edited (a 1 MiB overwrite, a 100-byte insertion at a random place) and cut
// again, and the chunks not in the first cut are counted. Run after `npm run build`:
//   node bench/chunk-sizes.mjs [trials]
import { createHash, randomBytes } from 'node:crypto';
import { cutAll } from '../dist/core/chunking.js';

const MiB = 1024 * 1024;
const SIZE = 48 * MiB;
const trials = Number(process.argv[2] ?? 40);
const data = randomBytes(SIZE);

function chunkIds(bytes, params) {
  const ids = new Set();
  let offset = 0;
  for (const length of cutAll(bytes, 0, bytes.length, true, params)) {
    ids.add(
      createHash('sha256')
        .update(bytes.subarray(offset, offset + length))
        .digest('hex'),
    );
    offset += length;
  }
  return ids;
}

function newBytes(before, bytes, params) {
  let n = 0;
  let offset = 0;
  for (const length of cutAll(bytes, 0, bytes.length, true, params)) {
    const id = createHash('sha256')
      .update(bytes.subarray(offset, offset + length))
      .digest('hex');
    if (!before.has(id)) n += length;
    offset += length;
  }
  return n / MiB;
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `median ${at(0.5).toFixed(2)} MiB, p90 ${at(0.9).toFixed(2)}, max ${sorted.at(-1).toFixed(2)}`;
}

for (const kib of [256, 128, 64]) {
  const params = { minSize: (kib / 4) * 1024, avgSize: kib * 1024, maxSize: kib * 4 * 1024 };
  const before = chunkIds(data, params);
  const overwrite = [];
  const insert = [];
  for (let t = 0; t < trials; t++) {
    const at = MiB + Math.floor(Math.random() * (SIZE - 4 * MiB));
    const edited = Buffer.from(data);
    randomBytes(MiB).copy(edited, at);
    overwrite.push(newBytes(before, edited, params));
    const inserted = Buffer.concat([data.subarray(0, at), randomBytes(100), data.subarray(at)]);
    insert.push(newBytes(before, inserted, params));
  }
  const over = overwrite.filter((v) => v > 1.5).length;
  console.log(
    `average ${kib} KiB: 1 MiB overwrite ${summary(overwrite)} (over 1.5 MiB: ${over}/${trials}); ` +
      `100-byte insertion ${summary(insert)}`,
  );
}
