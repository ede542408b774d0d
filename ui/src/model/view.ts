// From state + now to the words and numbers the DOM shows. Pure.

import type { AppState, Banner } from './session';
import { causeText, finalText, stateText } from './labels';
import { formatDuration, secondsUntil } from './time';

export type BannerView =
  | { kind: 'none' }
  | {
      kind: 'reconnecting';
      title: string;
      attempt: number;
      mode: string | null;
      /** Seconds until the next attempt; 0 = an attempt is under way now. */
      nextIn: number | null;
      nextText: string;
      giveUpIn: number | null;
      giveUpText: string;
    }
  | { kind: 'reconnected'; title: string; detail: string }
  | { kind: 'final'; title: string; explain: string; message: string | null; reason: string };

export function bannerView(b: Banner, now: number): BannerView {
  switch (b.kind) {
    case 'none':
      return b;
    case 'reconnecting': {
      const nextIn = b.nextAt === null ? null : secondsUntil(b.nextAt, now);
      const giveUpIn = b.giveUpAt === null ? null : secondsUntil(b.giveUpAt, now);
      return {
        kind: 'reconnecting',
        title: causeText(b.cause ?? undefined),
        attempt: b.attempt,
        mode: b.mode === 'RESUME' ? 'resuming the session' : b.mode === 'REJOIN' ? 'rejoining' : null,
        nextIn,
        nextText:
          nextIn === null ? '' : nextIn === 0 ? 'Trying now…' : `Next attempt in ${formatDuration(nextIn)}`,
        giveUpIn,
        giveUpText: giveUpIn === null ? '' : `Giving up in ${formatDuration(giveUpIn)}`,
      };
    }
    case 'reconnected': {
      const down = Math.max(0, Math.round(b.downMs / 100) / 10);
      const how = b.mode === 'RESUME' ? 'session resumed' : b.mode === 'REJOIN' ? 'rejoined' : null;
      return {
        kind: 'reconnected',
        title: 'Reconnected',
        detail: `Back after ${down.toFixed(1)} s${how ? ` · ${how}` : ''}`,
      };
    }
    case 'final': {
      const t = finalText(b.reason);
      return { kind: 'final', title: t.title, explain: t.explain, message: b.message, reason: b.reason };
    }
  }
}

export interface BadgeView {
  state: string;
  text: string;
}

export function connectionBadge(s: AppState): BadgeView {
  const reconnecting = s.connection === 'CONNECTING' && s.everConnected;
  return {
    state: reconnecting ? 'RECONNECTING' : s.connection,
    text: stateText(s.connection, reconnecting),
  };
}

/** Two letters for a tile without video: "Ann Lee" → "AL", "bob" → "BO", "7" → "7". */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  if (words.length === 1) return [...words[0]].slice(0, 2).join('').toUpperCase();
  return ([...words[0]][0] + [...words[words.length - 1]][0]).toUpperCase();
}
