import { useState } from 'preact/hooks';

import type { Controller } from '../controller';
import { type AppState, peerBadge } from '../model/session';
import type { Store } from '../store';
import type { VideoRouter } from '../video/router';
import { Banner } from './Banner';
import { CamIcon, CamOffIcon, MicIcon, MicOffIcon } from './icons';
import { Tile, type TileBadge } from './Tile';
import { Timeline } from './Timeline';

export interface CallScreenProps {
  state: AppState;
  store: Store;
  ctl: Controller;
  video: VideoRouter;
}

/** The own tile's badge follows the local connection state. */
function selfBadge(s: AppState): TileBadge {
  switch (s.connection) {
    case 'CONNECTED':
      return 'online';
    case 'CONNECTING':
      return s.everConnected ? 'reconnecting' : 'connecting';
    case 'DISCONNECTING':
    case 'DISCONNECTED':
      return 'disconnected';
  }
}

export function CallScreen({ state: s, store, ctl, video }: CallScreenProps) {
  const [error, setError] = useState<string | null>(null);
  const inSession = s.connection !== 'DISCONNECTED';
  const stale = s.connection === 'CONNECTING' && s.everConnected;
  const report = (e: { code: string; message: string } | null) =>
    setError(e ? `${e.message} (${e.code})` : null);

  return (
    <div class="call">
      <section class="stage" aria-label={`Call in ${s.channel ?? 'channel'}`}>
        <Banner
          banner={s.banner}
          onRetry={async () => report(await ctl.retryNow())}
          onRejoin={() => void ctl.rejoin()}
          onBack={() => store.dispatch({ type: 'back-to-join' })}
        />
        {s.notices.length > 0 && (
          <ul class="notices" data-testid="notices">
            {s.notices.map((n) => (
              <li key={n.id} class={`notice ${n.kind}`}>
                {n.text}
              </li>
            ))}
          </ul>
        )}
        {error && (
          <p class="call-error" role="alert" data-testid="call-error">
            {error}
          </p>
        )}
        <div
          class={`tiles${stale ? ' stale' : ''}`}
          data-testid="tiles"
          aria-label="Participants"
          aria-describedby={stale ? 'stale-note' : undefined}
          role="group"
        >
          {stale && (
            <p id="stale-note" class="stale-note">
              Showing the last known participants until the connection is back.
            </p>
          )}
          <Tile
            uid={s.me.uid}
            name={s.me.name}
            self
            badge={selfBadge(s)}
            muted={s.me.muted}
            quality={s.me.quality}
            level={s.me.level}
            videoExpected={!s.me.muted.video}
            video={video}
          />
          {s.peers.map((p) => (
            <Tile
              key={p.uid}
              uid={p.uid}
              name={p.name}
              self={false}
              badge={peerBadge(p)}
              muted={p.muted}
              quality={p.quality}
              level={p.level}
              videoExpected={p.media === 'live' && p.published.video && !p.muted.video}
              video={video}
            />
          ))}
        </div>
        <div class="controls" role="toolbar" aria-label="Call controls">
          <button
            type="button"
            data-testid="toggle-mic"
            aria-pressed={s.me.muted.audio}
            disabled={!inSession}
            onClick={async () => report(await ctl.setMuted(!s.me.muted.audio, s.me.muted.video))}
          >
            {s.me.muted.audio ? <MicOffIcon /> : <MicIcon />}
            {s.me.muted.audio ? 'Unmute microphone' : 'Mute microphone'}
          </button>
          <button
            type="button"
            data-testid="toggle-camera"
            aria-pressed={s.me.muted.video}
            disabled={!inSession}
            onClick={async () => report(await ctl.setMuted(s.me.muted.audio, !s.me.muted.video))}
          >
            {s.me.muted.video ? <CamOffIcon /> : <CamIcon />}
            {s.me.muted.video ? 'Turn camera on' : 'Turn camera off'}
          </button>
          <button
            type="button"
            class="danger"
            data-testid="leave"
            disabled={s.connection === 'DISCONNECTING'}
            onClick={async () => {
              if (s.connection === 'DISCONNECTED') store.dispatch({ type: 'back-to-join' });
              else report(await ctl.leave());
            }}
          >
            {s.connection === 'DISCONNECTED' ? 'Close' : 'Leave'}
          </button>
        </div>
      </section>
      <Timeline entries={s.timeline} t0={s.t0} onExport={() => ctl.exportDiagnostics()} />
    </div>
  );
}
