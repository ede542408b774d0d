import { describe, expect, it } from 'vitest';

import { encodeFrame, FLAG_PREVIEW, isPreview } from './frame';
import { VideoRouter } from './router';

const frame = (uid: number, frameNo: number, flags = 0) =>
  encodeFrame({ uid, width: 2, height: 2, frameNo, flags, rgba: new Uint8Array(16).fill(frameNo) });

const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r(null)));

describe('video router and the local preview', () => {
  it('keys preview frames by the local uid they carry, like remote ones', () => {
    const v = new VideoRouter();
    const seen: boolean[] = [];
    v.watch(7, (has) => seen.push(has));
    v.push(frame(7, 1, FLAG_PREVIEW));
    v.push(frame(7, 2, FLAG_PREVIEW));
    v.push(frame(9, 1));
    expect(v.hasVideo(7)).toBe(true);
    expect(v.hasVideo(9)).toBe(true);
    expect(seen).toEqual([true]); // only the first frame changes "has video"
    expect(isPreview({ flags: FLAG_PREVIEW })).toBe(true);
    expect(isPreview({ flags: 0 })).toBe(false);
  });

  it('dropPreview forgets the self-view only (camera off, session over)', () => {
    const v = new VideoRouter();
    const seen: boolean[] = [];
    v.watch(7, (has) => seen.push(has));
    v.push(frame(7, 1, FLAG_PREVIEW));
    v.push(frame(9, 1));
    v.dropPreview();
    expect(v.hasVideo(7)).toBe(false);
    expect(v.hasVideo(9)).toBe(true);
    expect(seen).toEqual([true, false]);
    v.dropPreview(); // nothing left to drop: no second notification
    expect(seen).toEqual([true, false]);
    v.push(frame(7, 5, FLAG_PREVIEW)); // camera back on
    expect(seen).toEqual([true, false, true]);
  });

  it('a preview under a new uid (a new session) replaces the old one', () => {
    const v = new VideoRouter();
    v.push(frame(7, 1, FLAG_PREVIEW));
    v.push(frame(8, 1, FLAG_PREVIEW));
    expect(v.hasVideo(7)).toBe(false);
    expect(v.hasVideo(8)).toBe(true);
    v.dropPreview();
    expect(v.hasVideo(8)).toBe(false);
  });

  it('marks the canvas with the frame number and whether it shows the preview', async () => {
    const v = new VideoRouter();
    const self = document.createElement('canvas');
    const peer = document.createElement('canvas');
    v.attach(7, self);
    v.attach(9, peer);
    v.push(frame(7, 3, FLAG_PREVIEW));
    v.push(frame(9, 4));
    await nextFrame();
    await nextFrame();
    expect(self.dataset.frame).toBe('3');
    expect(self.dataset.preview).toBe('true');
    expect(peer.dataset.frame).toBe('4');
    expect(peer.dataset.preview).toBe('false');
  });
});
