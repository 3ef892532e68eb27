/**
 * Content-defined chunking with FastCDC (Xia et al., 2016/2020): a gear rolling hash,
 * cut-point skipping below the minimum size and normalized chunking (a stricter mask before
 * the average size, a looser one after), so chunk sizes cluster around the average and an
 * insertion in the middle of a file only changes the chunks around it.
 *
 * Pure: no I/O. The gear table comes from a fixed seed, so every device cuts the same bytes
 * at the same places and identical data deduplicates across devices.
 */

export interface ChunkParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

/** Chosen for Tandem's delta targets: a 1 MiB overwrite costs ~1.25 MiB of chunks. */
export const DEFAULT_CHUNK_PARAMS: ChunkParams = {
  minSize: 64 * 1024,
  avgSize: 256 * 1024,
  maxSize: 1024 * 1024,
};

const GEAR = makeGearTable(0x7a6e_6465); // fixed seed: boundaries must agree across devices

function makeGearTable(seed: number): Int32Array {
  // xorshift32: deterministic, good enough to spread bytes over 32 bits.
  const table = new Int32Array(256);
  let x = seed >>> 0;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    table[i] = x | 0;
  }
  return table;
}

/** A mask of `bits` ones in the high end of a 32-bit word (the bits that see the most bytes). */
function highMask(bits: number): number {
  return bits >= 32 ? -1 : (0xffffffff << (32 - bits)) | 0;
}

interface Masks {
  readonly small: number;
  readonly large: number;
}

const maskCache = new Map<number, Masks>();

function masksFor(avgSize: number): Masks {
  let masks = maskCache.get(avgSize);
  if (!masks) {
    const bits = Math.round(Math.log2(avgSize));
    masks = { small: highMask(bits + 2), large: highMask(bits - 2) };
    maskCache.set(avgSize, masks);
  }
  return masks;
}

/**
 * Length of the chunk that starts at `start` in `data[start, end)`. Returns `end - start`
 * when no cut point lies before the maximum size or the end of the data; the caller decides
 * whether that is final (end of file) or whether more bytes are needed first.
 *
 * The hot loop: everything stays in int32 (the gear table, the hash, the masks), which lets
 * V8 keep it in registers; this runs at about twice the speed of unsigned arithmetic.
 */
export function cutPoint(
  data: Uint8Array,
  start: number,
  end: number,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
): number {
  const available = end - start;
  if (available <= params.minSize) return available;
  const limit = start + Math.min(available, params.maxSize);
  const normal = start + Math.min(available, params.avgSize);
  const { small, large } = masksFor(params.avgSize);
  const gear = GEAR;
  let hash = 0;
  let i = start + params.minSize;
  // Before the average size a cut needs more zero bits (rarer), after it fewer (likelier).
  for (; i < normal; i++) {
    hash = ((hash << 1) + gear[data[i]!]!) | 0;
    if ((hash & small) === 0) return i + 1 - start;
  }
  for (; i < limit; i++) {
    hash = ((hash << 1) + gear[data[i]!]!) | 0;
    if ((hash & large) === 0) return i + 1 - start;
  }
  return limit - start;
}

/**
 * Splits a stream into chunks. Feed bytes with `push`, which returns the chunks completed so
 * far; `finish` returns the last chunk (if any). Returned chunks are views that stay valid
 * (the splitter never reuses a buffer it has handed out). Not safe for concurrent use.
 */
export class ChunkSplitter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly params: ChunkParams = DEFAULT_CHUNK_PARAMS) {}

  push(data: Uint8Array): Uint8Array[] {
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes < this.params.maxSize) return [];
    return this.drain(false);
  }

  finish(): Uint8Array[] {
    return this.drain(true);
  }

  private drain(final: boolean): Uint8Array[] {
    const buffer =
      this.pending.length === 1 ? this.pending[0]! : concat(this.pending, this.pendingBytes);
    const out: Uint8Array[] = [];
    let offset = 0;
    while (buffer.length - offset >= this.params.maxSize || (final && offset < buffer.length)) {
      const length = cutPoint(buffer, offset, buffer.length, this.params);
      out.push(buffer.subarray(offset, offset + length));
      offset += length;
    }
    const rest = buffer.subarray(offset);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Splits a whole buffer at once; the same boundaries as streaming it through ChunkSplitter. */
export function splitBuffer(
  data: Uint8Array,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < data.length) {
    const length = cutPoint(data, offset, data.length, params);
    out.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}
