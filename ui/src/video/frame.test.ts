import { describe, expect, it } from 'vitest';

import { decodeFrame, encodeFrame, FrameError, HEADER_BYTES } from './frame';

describe('video frame header', () => {
  it('decodes the 16-byte little-endian header and the RGBA view', () => {
    // Built by hand, byte by byte, so the test does not trust encodeFrame.
    const w = 2;
    const h = 1;
    const bytes = new Uint8Array(HEADER_BYTES + w * h * 4);
    bytes.set([0x39, 0x30, 0x00, 0x00]); // uid 12345
    bytes.set([0x02, 0x00], 4); // width 2
    bytes.set([0x01, 0x00], 6); // height 1
    bytes.set([0x07, 0x01, 0x00, 0x00], 8); // frameNo 263
    bytes.set([0x01, 0x00, 0x00, 0x80], 12); // flags 0x80000001
    bytes.set([255, 0, 0, 255, 0, 0, 255, 128], 16);
    const f = decodeFrame(bytes.buffer);
    expect(f).toMatchObject({ uid: 12345, width: 2, height: 1, frameNo: 263, flags: 0x80000001 });
    expect([...f.rgba]).toEqual([255, 0, 0, 255, 0, 0, 255, 128]);
    expect(f.rgba.buffer).toBe(bytes.buffer); // a view, no copy
  });

  it('round-trips through encodeFrame', () => {
    const rgba = new Uint8Array(640 * 360 * 4).map((_, i) => i % 251);
    const buf = encodeFrame({ uid: 4_000_000_000, width: 640, height: 360, frameNo: 2 ** 32 - 1, flags: 0, rgba });
    const f = decodeFrame(buf);
    expect(f).toMatchObject({ uid: 4_000_000_000, width: 640, height: 360, frameNo: 2 ** 32 - 1, flags: 0 });
    expect(f.rgba.length).toBe(rgba.length);
    expect(f.rgba[1000]).toBe(rgba[1000]);
  });

  it('rejects short, empty, or mis-sized frames', () => {
    expect(() => decodeFrame(new ArrayBuffer(15))).toThrow(FrameError);
    const empty = encodeFrame({ uid: 1, width: 0, height: 4, frameNo: 0, flags: 0, rgba: new Uint8Array(0) });
    expect(() => decodeFrame(empty)).toThrow(/empty frame/);
    const good = encodeFrame({ uid: 1, width: 2, height: 2, frameNo: 0, flags: 0, rgba: new Uint8Array(16) });
    expect(() => decodeFrame(good.slice(0, good.byteLength - 1))).toThrow(/needs 16 RGBA bytes, got 15/);
    const long = new Uint8Array(good.byteLength + 4);
    long.set(new Uint8Array(good));
    expect(() => decodeFrame(long.buffer)).toThrow(/got 20/);
  });
});
