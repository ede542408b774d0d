// Words for the codes the shell sends. One place, so the banner, the
// timeline and the tests agree.

import type { ConnectionState, InterruptCause, StateReason, TetherEvent } from '../api';

const CAUSES: Record<InterruptCause, string> = {
  KEEPALIVE_TIMEOUT: 'Connection lost — no answer from the server',
  SOCKET_CLOSED: 'Connection lost — the server closed the connection',
  ICE_FAILED: 'Media connection failed',
  NETWORK_CHANGED: 'Network changed',
  SERVER_RESTART: 'Server restarted',
  SYSTEM_WAKE: 'Computer woke from sleep',
};

export function causeText(cause: string | undefined): string {
  if (cause && cause in CAUSES) return CAUSES[cause as InterruptCause];
  return 'Connection interrupted';
}

interface FinalText {
  title: string;
  explain: string;
}

const FINAL: Partial<Record<StateReason, FinalText>> = {
  GAVE_UP: {
    title: 'Could not reconnect',
    explain: 'Tether kept trying until the give-up deadline and the server never answered.',
  },
  TOKEN_EXPIRED: {
    title: 'Your access token expired',
    explain: 'Ask for a new invitation, then rejoin.',
  },
  INVALID_TOKEN: {
    title: 'The server refused your access token',
    explain: 'The invitation is not valid for this channel. Ask for a new one.',
  },
  UID_CONFLICT: {
    title: 'You joined this channel somewhere else',
    explain: 'The same user id connected from another app or device, so this one was disconnected.',
  },
  KICKED: {
    title: 'You were removed from the channel',
    explain: 'Someone with the right to do so removed you.',
  },
  CHANNEL_CLOSED: {
    title: 'The channel was closed',
    explain: 'The server closed this channel for everyone.',
  },
  SERVER_REJECTED: {
    title: 'The server refused the connection',
    explain: 'The server did not accept this client.',
  },
  JOIN_FAILED: {
    title: 'Could not join',
    explain: 'The server could not be reached or refused the join.',
  },
};

export function finalText(reason: StateReason | string): FinalText {
  return (
    FINAL[reason as StateReason] ?? {
      title: 'Disconnected',
      explain: `The connection ended (${reason}).`,
    }
  );
}

export function stateText(state: ConnectionState, reconnecting: boolean): string {
  switch (state) {
    case 'DISCONNECTED':
      return 'Disconnected';
    case 'CONNECTING':
      return reconnecting ? 'Reconnecting' : 'Connecting';
    case 'CONNECTED':
      return 'Connected';
    case 'DISCONNECTING':
      return 'Leaving';
  }
}

/** Network quality 0..6 (0 unknown, 1 excellent … 5 very bad, 6 down). */
export function qualityText(q: number): string {
  return ['unknown', 'excellent', 'good', 'fair', 'poor', 'very bad', 'down'][q] ?? 'unknown';
}

/** Bars lit (of 5) for a quality value: 1 → 5 bars … 5 → 1 bar, 6 → 0, 0 → 0. */
export function qualityBars(q: number): number {
  return q >= 1 && q <= 5 ? 6 - q : 0;
}

/** One line for the timeline; `name` resolves a uid to a display name. */
export function eventText(e: TetherEvent, name: (uid: number) => string): string {
  switch (e.event) {
    case 'connection-state-change': {
      let s = `${e.prevState} → ${e.curState} (${e.reason})`;
      if (e.detail.cause) s += ` · ${causeText(e.detail.cause)}`;
      if (e.detail.message) s += ` · ${e.detail.message}`;
      return s;
    }
    case 'connected':
      return `connected (${e.mode.toLowerCase()})`;
    case 'reconnect-attempt':
      return `reconnect attempt ${e.attempt} (${e.mode.toLowerCase()})`;
    case 'peer-online':
      return `peer-online ${e.name || name(e.uid)} (uid ${e.uid})`;
    case 'peer-leave':
      return `peer-leave ${name(e.uid)} (uid ${e.uid}, ${e.reason})`;
    case 'peer-reconnecting':
      return `peer-reconnecting ${name(e.uid)} (uid ${e.uid})`;
    case 'peer-reconnected':
      return `peer-reconnected ${name(e.uid)} (uid ${e.uid})`;
    case 'stream-added': {
      const kinds = [e.audio && 'audio', e.video && 'video'].filter(Boolean).join('+') || 'no tracks';
      return `stream-added ${name(e.uid)} (uid ${e.uid}, ${kinds})`;
    }
    case 'stream-removed':
      return `stream-removed ${name(e.uid)} (uid ${e.uid}, ${e.reason})`;
    case 'stream-subscribed':
      return `stream-subscribed ${name(e.uid)} (uid ${e.uid})`;
    case 'mute-changed': {
      const m = [e.audio && 'mic off', e.video && 'camera off'].filter(Boolean).join(', ') || 'unmuted';
      return `mute-changed ${name(e.uid)} (uid ${e.uid}: ${m})`;
    }
    case 'token-privilege-will-expire':
      return 'token will expire in 30 s (renewing)';
    case 'token-privilege-did-expire':
      return 'token expired';
    case 'exception':
      return `exception ${e.code}: ${e.message}`;
    case 'network-quality':
      return `network-quality ${e.uid ?? 'local'} up ${e.uplink} down ${e.downlink}`;
    case 'volume-indicator':
      return 'volume-indicator';
    case 'media-stats':
      return `media-stats ${name(e.uid)} (uid ${e.uid}, ${e.kind})`;
  }
}
