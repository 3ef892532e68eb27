/** The chunk framing: whatever way the bytes are split in transit, the same frames come out. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, frameHeader } from '../../src/protocol/frames.js';

function encode(frames: readonly Uint8Array[]): Buffer {
  return Buffer.concat(frames.flatMap((f) => [frameHeader(f.length), Buffer.from(f)]));
}

describe('FrameDecoder', () => {
  it('decodes frames however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const stream = encode(frames);
          const decoder = new FrameDecoder(1000);
          const out: Buffer[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            out.push(...decoder.push(stream.subarray(at, at + size)));
            at += size;
          }
          expect(out.map((b) => [...b])).toEqual(frames.map((f) => [...f]));
          expect(decoder.idle).toBe(true);
          // In parts: views of what arrived, which put together are the same frames.
          const inParts = new FrameDecoder(1000);
          const parts: Buffer[][] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            parts.push(...inParts.pushParts(stream.subarray(at, at + size)));
            at += size;
          }
          expect(parts.map((p) => [...Buffer.concat(p)])).toEqual(frames.map((f) => [...f]));
          expect(inParts.idle).toBe(true);
        },
      ),
    );
  });

  it('reports a partial frame, and refuses a frame over the limit', () => {
    const decoder = new FrameDecoder(10);
    expect(decoder.push(encode([Buffer.from('hello')]).subarray(0, 6))).toEqual([]);
    expect(decoder.idle).toBe(false);
    expect(() => new FrameDecoder(10).push(frameHeader(11))).toThrow(RangeError);
  });
});
