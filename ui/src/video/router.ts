// Keeps the newest frame per uid and paints it on that uid's canvas once per
// animation frame. Frames for a uid with no canvas are kept (the tile may
// mount later) and simply replaced by newer ones. The local preview arrives
// tagged with the local uid (and the PREVIEW flag), so the own tile attaches
// to its uid like any other.

import { decodeFrame, FrameError, isPreview, type VideoFrame } from './frame';

type Listener = (hasVideo: boolean) => void;

export class VideoRouter {
  private latest = new Map<number, VideoFrame>();
  private dirty = new Set<number>();
  private canvases = new Map<number, HTMLCanvasElement>();
  private listeners = new Map<number, Set<Listener>>();
  private scheduled = false;
  /** The uid the local preview frames carry (the current session's own uid). */
  private previewUid: number | null = null;
  /** Frames that failed to decode (shown in diagnostics, never thrown). */
  bad = 0;

  /** Feed one binary message from the shell. */
  push(buf: ArrayBuffer): void {
    let f: VideoFrame;
    try {
      f = decodeFrame(buf);
    } catch (e) {
      if (e instanceof FrameError) {
        this.bad += 1;
        return;
      }
      throw e;
    }
    if (isPreview(f) && this.previewUid !== f.uid) {
      // A new session (new uid): the old session's self-view goes.
      if (this.previewUid !== null) this.drop(this.previewUid);
      this.previewUid = f.uid;
    }
    const first = !this.latest.has(f.uid);
    this.latest.set(f.uid, f);
    this.dirty.add(f.uid);
    if (first) this.listeners.get(f.uid)?.forEach((l) => l(true));
    this.schedule();
  }

  hasVideo(uid: number): boolean {
    return this.latest.has(uid);
  }

  /** Forget a uid's frames (its stream ended): the tile falls back to initials. */
  drop(uid: number): void {
    if (this.latest.delete(uid)) this.listeners.get(uid)?.forEach((l) => l(false));
  }

  /**
   * Forget the local preview (camera turned off, or the session ended): the
   * own tile shows the avatar until fresh preview frames come.
   */
  dropPreview(): void {
    if (this.previewUid !== null) this.drop(this.previewUid);
  }

  /** Subscribe to "this uid has (or no longer has) video"; returns the cleanup. */
  watch(uid: number, l: Listener): () => void {
    let set = this.listeners.get(uid);
    if (!set) this.listeners.set(uid, (set = new Set()));
    set.add(l);
    return () => {
      set.delete(l);
      if (set.size === 0) this.listeners.delete(uid);
    };
  }

  attach(uid: number, canvas: HTMLCanvasElement): () => void {
    this.canvases.set(uid, canvas);
    if (this.latest.has(uid)) {
      this.dirty.add(uid);
      this.schedule();
    }
    return () => {
      if (this.canvases.get(uid) === canvas) this.canvases.delete(uid);
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const uid of this.dirty) {
        const f = this.latest.get(uid);
        const c = this.canvases.get(uid);
        if (f && c) paint(c, f);
      }
      this.dirty.clear();
    });
  }
}

function paint(c: HTMLCanvasElement, f: VideoFrame): void {
  if (c.width !== f.width) c.width = f.width;
  if (c.height !== f.height) c.height = f.height;
  c.getContext('2d')?.putImageData(new ImageData(f.rgba, f.width, f.height), 0, 0);
  c.dataset.frame = String(f.frameNo);
  c.dataset.preview = isPreview(f) ? 'true' : 'false';
}
