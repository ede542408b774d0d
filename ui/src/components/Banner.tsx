import { useState } from 'preact/hooks';

import type { Banner as BannerState } from '../model/session';
import { bannerView } from '../model/view';
import { useNow } from '../store';

export interface BannerProps {
  banner: BannerState;
  onRetry: () => Promise<unknown>;
  onRejoin: () => void;
  onBack: () => void;
}

/**
 * The reconnect banner. The region is always in the DOM (an ARIA live region
 * announces changes only when it existed before them); the ticking countdown
 * sits in an aria-live="off" part so it is not read out every second.
 */
export function Banner({ banner, onRetry, onRejoin, onBack }: BannerProps) {
  const now = useNow(250, banner.kind === 'reconnecting');
  const [retrying, setRetrying] = useState(false);
  const v = bannerView(banner, now);
  return (
    <div class={`banner-region ${v.kind}`} role="status" aria-live="polite" data-testid="banner-region">
      {v.kind === 'reconnecting' && (
        <div class="banner warn" data-testid="banner" data-kind="reconnecting">
          <div class="banner-text">
            <strong class="banner-title" data-testid="banner-title">
              {v.title}
            </strong>
            <span data-testid="banner-attempt">
              Reconnecting — attempt {v.attempt}
              {v.mode ? ` (${v.mode})` : ''}
            </span>
            <span class="countdown" aria-live="off">
              <span data-testid="banner-next" data-seconds={v.nextIn ?? ''}>
                {v.nextText}
              </span>
              {v.giveUpText && (
                <span data-testid="banner-giveup" data-seconds={v.giveUpIn ?? ''}>
                  {v.giveUpText}
                </span>
              )}
            </span>
          </div>
          <button
            type="button"
            data-testid="retry-now"
            disabled={retrying}
            onClick={() => {
              setRetrying(true);
              void onRetry().finally(() => setRetrying(false));
            }}
          >
            Retry now
          </button>
        </div>
      )}
      {v.kind === 'reconnected' && (
        <div class="banner ok" data-testid="banner" data-kind="reconnected">
          <div class="banner-text">
            <strong class="banner-title" data-testid="banner-title">
              {v.title}
            </strong>
            <span data-testid="banner-detail">{v.detail}</span>
          </div>
        </div>
      )}
      {v.kind === 'final' && (
        <div class="banner error" data-testid="banner" data-kind="final" data-reason={v.reason}>
          <div class="banner-text">
            <strong class="banner-title" data-testid="banner-title">
              {v.title}
            </strong>
            <span data-testid="banner-explain">{v.explain}</span>
            {v.message && (
              <span class="server-message" data-testid="banner-message">
                Details: {v.message}
              </span>
            )}
            <span class="reason-code">Reason: {v.reason}</span>
          </div>
          <div class="banner-actions">
            <button type="button" class="primary" data-testid="rejoin" onClick={onRejoin}>
              Rejoin
            </button>
            <button type="button" data-testid="back-to-join" onClick={onBack}>
              Back
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
