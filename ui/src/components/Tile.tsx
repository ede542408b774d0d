import { useEffect, useRef, useState } from 'preact/hooks';

import { type Muted, type PeerBadge, type Quality, showsSpeaking } from '../model/session';
import { initials } from '../model/view';
import type { VideoRouter } from '../video/router';
import { CamOffIcon, MicOffIcon, PersonIcon } from './icons';
import { QualityBars } from './QualityBars';

/** Remote peers: the SPEC §6 badges; the own tile: its connection. */
export type TileBadge = PeerBadge | 'connecting' | 'disconnected';

/** One of eight avatar colours, fixed per uid. */
const hue = (uid: number | null) => `hue-${(uid ?? 0) % 8}`;

export interface TileProps {
  uid: number | null;
  name: string;
  self: boolean;
  badge: TileBadge;
  muted: Muted;
  quality: Quality;
  level: number;
  /** The peer publishes video that is not muted: frames may come. */
  videoExpected: boolean;
  video: VideoRouter;
}

export function Tile(p: TileProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const uid = p.uid;
  const [hasFrames, setHasFrames] = useState(uid !== null && p.video.hasVideo(uid));
  useEffect(() => {
    if (uid === null) return;
    setHasFrames(p.video.hasVideo(uid));
    return p.video.watch(uid, setHasFrames);
  }, [uid, p.video]);
  useEffect(() => {
    if (uid === null || !canvas.current) return;
    return p.video.attach(uid, canvas.current);
  }, [uid, p.video]);

  const showVideo = hasFrames && p.videoExpected && (p.badge === 'online' || p.badge === 'reconnecting');
  const speaking = showsSpeaking(p.badge === 'online', p.muted, p.level);
  const id = p.self ? 'self' : String(uid);
  // The own name is unknown when this window did not start the join.
  const shown = p.name || (p.self ? 'You' : `User ${uid}`);
  const who = p.self && p.name ? `${p.name} (you)` : shown;
  const status = [p.badge, p.muted.audio && 'microphone off', p.muted.video && 'camera off', speaking && 'speaking']
    .filter(Boolean)
    .join(', ');
  return (
    <article
      class={`tile badge-${p.badge.replace(' ', '-')}${speaking ? ' speaking' : ''}`}
      data-testid={`tile-${id}`}
      data-uid={uid ?? ''}
      data-badge={p.badge}
      data-speaking={speaking ? 'true' : 'false'}
      aria-label={`${who}: ${status}`}
      tabIndex={0}
    >
      <div class="media">
        {/* The self-view is mirrored, as in a mirror (and every conferencing app). */}
        <canvas
          ref={canvas}
          class={p.self ? 'video mirrored' : 'video'}
          hidden={!showVideo}
          data-testid={`video-${id}`}
          data-mirrored={p.self ? 'true' : 'false'}
          aria-hidden="true"
        />
        {!showVideo && (
          <div class={`avatar ${hue(uid)}`} aria-hidden="true" data-testid={`avatar-${id}`}>
            {p.name ? initials(p.name) : <PersonIcon />}
          </div>
        )}
        <span class="badge" data-testid={`badge-${id}`}>
          {p.badge}
        </span>
      </div>
      <div class="tile-foot">
        <span class="name" title={who}>
          {shown}
          {p.self && p.name && <span class="you"> (you)</span>}
        </span>
        <span class="mutes">
          {p.muted.audio && (
            <span title="Microphone off" data-testid={`mic-off-${id}`}>
              <MicOffIcon />
            </span>
          )}
          {p.muted.video && (
            <span title="Camera off" data-testid={`cam-off-${id}`}>
              <CamOffIcon />
            </span>
          )}
        </span>
        <QualityBars quality={p.quality} testid={`quality-${id}`} />
      </div>
    </article>
  );
}
