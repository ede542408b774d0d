// The binary video frame of docs/ipc.md "Video": a 16-byte little-endian
// header `uid: u32, width: u16, height: u16, frameNo: u32, flags: u32`
// followed by width*height*4 RGBA bytes. Flags bit 0 marks the local
// preview (self-view, tagged with the local uid); remote frames have 0.

export const HEADER_BYTES = 16;
/** Header flag: the local preview (what this app publishes), not a decoded remote frame. */
export const FLAG_PREVIEW = 1;

export const isPreview = (f: Pick<VideoFrame, 'flags'>): boolean => (f.flags & FLAG_PREVIEW) !== 0;

export interface VideoFrame {
  uid: number;
  width: number;
  height: number;
  frameNo: number;
  flags: number;
  /** RGBA pixels, a view into the message (no copy). */
  rgba: Uint8ClampedArray<ArrayBuffer>;
}

export class FrameError extends Error {}

export function decodeFrame(buf: ArrayBuffer): VideoFrame {
  if (buf.byteLength < HEADER_BYTES) {
    throw new FrameError(`frame too short: ${buf.byteLength} bytes, header needs ${HEADER_BYTES}`);
  }
  const v = new DataView(buf);
  const uid = v.getUint32(0, true);
  const width = v.getUint16(4, true);
  const height = v.getUint16(6, true);
  const frameNo = v.getUint32(8, true);
  const flags = v.getUint32(12, true);
  if (width === 0 || height === 0) throw new FrameError(`empty frame ${width}x${height}`);
  const want = width * height * 4;
  const have = buf.byteLength - HEADER_BYTES;
  if (have !== want) {
    throw new FrameError(`frame ${width}x${height} needs ${want} RGBA bytes, got ${have}`);
  }
  return { uid, width, height, frameNo, flags, rgba: new Uint8ClampedArray(buf, HEADER_BYTES, want) };
}

/** Builds a frame message (tests, and the e2e mock of the shell). */
export function encodeFrame(f: Omit<VideoFrame, 'rgba'> & { rgba: Uint8Array | Uint8ClampedArray }): ArrayBuffer {
  const buf = new ArrayBuffer(HEADER_BYTES + f.rgba.length);
  const v = new DataView(buf);
  v.setUint32(0, f.uid, true);
  v.setUint16(4, f.width, true);
  v.setUint16(6, f.height, true);
  v.setUint32(8, f.frameNo, true);
  v.setUint32(12, f.flags, true);
  new Uint8Array(buf, HEADER_BYTES).set(f.rgba);
  return buf;
}
