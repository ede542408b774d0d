// The UI's whole state, and the pure reducer that turns shell events (and a
// few local actions) into it. No DOM, no clock: time comes in with each action,
// so vitest replays whole timelines without a browser.

import type {
  ConnectMode,
  ConnectionSnapshot,
  ConnectionState,
  InterruptCause,
  IpcError,
  JoinArgs,
  Joined,
  PeerLeaveReason,
  ReconnectMode,
  StateReason,
  TetherEvent,
} from '../api';
import { eventText } from './labels';

/** A tile whose peer left shows the `left` badge this long, then disappears. */
export const LEFT_LINGER_MS = 3000;
/** The "Reconnected" note stays this long after RECONNECT_SUCCESS. */
export const RECONNECTED_NOTE_MS = 3000;
/** A volume level (0..100) above this marks a tile as speaking. */
export const SPEAKING_THRESHOLD = 20;
/** An exception notice stays this long. */
export const NOTICE_MS = 10000;
/** Oldest timeline entries are dropped beyond this many. */
export const TIMELINE_MAX = 2000;

export type PeerBadge = 'online' | 'reconnecting' | 'no media' | 'left';

export interface Quality {
  uplink: number;
  downlink: number;
}

export interface Muted {
  audio: boolean;
  video: boolean;
}

export interface Peer {
  uid: number;
  name: string;
  presence: 'online' | 'reconnecting' | 'left';
  leftAt: number | null;
  leaveReason: PeerLeaveReason | null;
  /** none: not publishing; live: stream added; no-data: stream-removed NO_DATA. */
  media: 'none' | 'live' | 'no-data';
  published: { audio: boolean; video: boolean };
  subscribed: boolean;
  muted: Muted;
  quality: Quality;
  level: number;
}

export interface Me {
  uid: number | null;
  name: string;
  muted: Muted;
  quality: Quality;
  level: number;
}

export type Banner =
  | { kind: 'none' }
  | {
      kind: 'reconnecting';
      since: number;
      cause: InterruptCause | null;
      attempt: number;
      mode: ReconnectMode | null;
      nextAt: number | null;
      giveUpAt: number | null;
    }
  | { kind: 'reconnected'; at: number; downMs: number; mode: ConnectMode | null }
  | { kind: 'final'; at: number; reason: StateReason; message: string | null };

export type TimelineKind = 'local' | 'state' | 'session' | 'peer' | 'stream' | 'token' | 'exception';

export interface TimelineEntry {
  ts: number;
  kind: TimelineKind;
  event: string;
  text: string;
}

export interface Notice {
  id: number;
  ts: number;
  until: number;
  kind: 'token' | 'exception';
  text: string;
}

export interface AppState {
  screen: 'join' | 'call';
  connection: ConnectionState;
  lastReason: StateReason | null;
  /** CONNECTED was reached in this session: a later CONNECTING is a reconnection. */
  everConnected: boolean;
  /** join was invoked and its JOIN state change has not arrived yet. */
  joinPending: boolean;
  joinError: IpcError | null;
  lastJoin: JoinArgs | null;
  channel: string | null;
  server: string | null;
  me: Me;
  /** Remote peers in the order they first appeared. */
  peers: Peer[];
  banner: Banner;
  notices: Notice[];
  nextNoticeId: number;
  /** T0 of the timeline (Unix ms): join called, or the first JOIN state change. */
  t0: number | null;
  timeline: TimelineEntry[];
}

export type Action =
  | { type: 'event'; event: TetherEvent }
  | { type: 'join-requested'; args: JoinArgs; at: number }
  | { type: 'join-result'; joined: Joined }
  | { type: 'join-failed'; error: IpcError; at: number }
  | { type: 'snapshot'; snapshot: ConnectionSnapshot; at: number }
  | { type: 'self-muted'; muted: Muted }
  | { type: 'set-name'; name: string }
  | { type: 'back-to-join' }
  | { type: 'tick'; now: number };

const UNKNOWN_QUALITY: Quality = { uplink: 0, downlink: 0 };
const UNMUTED: Muted = { audio: false, video: false };

export function initialState(): AppState {
  return {
    screen: 'join',
    connection: 'DISCONNECTED',
    lastReason: null,
    everConnected: false,
    joinPending: false,
    joinError: null,
    lastJoin: null,
    channel: null,
    server: null,
    me: { uid: null, name: '', muted: UNMUTED, quality: UNKNOWN_QUALITY, level: 0 },
    peers: [],
    banner: { kind: 'none' },
    notices: [],
    nextNoticeId: 1,
    t0: null,
    timeline: [],
  };
}

/** A fresh call screen for a new session; keeps what outlives sessions. */
function newSession(s: AppState, t0: number, channel: string | null, name: string): AppState {
  return {
    ...initialState(),
    screen: 'call',
    lastJoin: s.lastJoin,
    channel,
    me: { ...initialState().me, name, muted: s.me.muted },
    t0,
  };
}

function newPeer(uid: number, name: string): Peer {
  return {
    uid,
    name,
    presence: 'online',
    leftAt: null,
    leaveReason: null,
    media: 'none',
    published: { audio: false, video: false },
    subscribed: false,
    muted: UNMUTED,
    quality: UNKNOWN_QUALITY,
    level: 0,
  };
}

export function peerBadge(p: Peer): PeerBadge {
  if (p.presence === 'left') return 'left';
  if (p.presence === 'reconnecting') return 'reconnecting';
  if (p.media === 'no-data') return 'no media';
  return 'online';
}

export function isSpeaking(level: number): boolean {
  return level > SPEAKING_THRESHOLD;
}

/** The speaking highlight: present, microphone on, level above the threshold. */
export function showsSpeaking(present: boolean, muted: Muted, level: number): boolean {
  return present && !muted.audio && isSpeaking(level);
}

export function peerName(s: AppState, uid: number): string {
  if (uid === s.me.uid) return s.me.name || 'You';
  return s.peers.find((p) => p.uid === uid)?.name || `User ${uid}`;
}

function log(s: AppState, entry: TimelineEntry): AppState {
  const timeline =
    s.timeline.length >= TIMELINE_MAX
      ? [...s.timeline.slice(s.timeline.length - TIMELINE_MAX + 1), entry]
      : [...s.timeline, entry];
  return { ...s, timeline };
}

function updatePeer(s: AppState, uid: number, f: (p: Peer) => Peer, create = false): AppState {
  const i = s.peers.findIndex((p) => p.uid === uid);
  if (i < 0) {
    if (!create) return s;
    return { ...s, peers: [...s.peers, f(newPeer(uid, `User ${uid}`))] };
  }
  const peers = s.peers.slice();
  peers[i] = f(peers[i]);
  return { ...s, peers };
}

function addNotice(s: AppState, ts: number, until: number, kind: Notice['kind'], text: string): AppState {
  const n: Notice = { id: s.nextNoticeId, ts, until, kind, text };
  return { ...s, notices: [...s.notices.slice(-4), n], nextNoticeId: s.nextNoticeId + 1 };
}

const TIMELINE_KIND: Partial<Record<TetherEvent['event'], TimelineKind>> = {
  'connection-state-change': 'state',
  connected: 'session',
  'reconnect-attempt': 'session',
  'peer-online': 'peer',
  'peer-leave': 'peer',
  'peer-reconnecting': 'peer',
  'peer-reconnected': 'peer',
  'stream-added': 'stream',
  'stream-removed': 'stream',
  'stream-subscribed': 'stream',
  'mute-changed': 'stream',
  'token-privilege-will-expire': 'token',
  'token-privilege-did-expire': 'token',
  exception: 'exception',
};

export function reduce(s: AppState, a: Action): AppState {
  switch (a.type) {
    case 'join-requested': {
      const next = newSession({ ...s, lastJoin: a.args }, a.at, a.args.channel, a.args.name);
      return log(
        { ...next, joinPending: true, server: a.args.server },
        { ts: a.at, kind: 'local', event: 'join', text: `join called: channel “${a.args.channel}” as “${a.args.name}”` },
      );
    }
    case 'join-result':
      return {
        ...s,
        channel: a.joined.channel,
        server: a.joined.server,
        me: { ...s.me, uid: a.joined.uid },
      };
    case 'join-failed':
      // The command itself refused (bad channel, already joined, …): nothing
      // started, so back to the join screen with the error.
      return { ...s, screen: 'join', joinPending: false, joinError: a.error };
    case 'snapshot': {
      const { state, channel, uid } = a.snapshot;
      if (state === 'DISCONNECTED') {
        return s.screen === 'call' && s.connection !== 'DISCONNECTED' ? { ...s, connection: state } : s;
      }
      const opened = s.screen !== 'call';
      let next = opened ? { ...newSession(s, a.at, channel, s.me.name), lastJoin: null } : s;
      if (opened) {
        // Joined before this window listened (a deep link at start, a reload):
        // earlier events were not seen here; say so, and count from now.
        next = log(next, {
          ts: a.at,
          kind: 'local',
          event: 'window-opened',
          text: `window opened: already ${state} in “${channel ?? '?'}” (earlier events are in the diagnostics export)`,
        });
      }
      next = {
        ...next,
        connection: state,
        channel: channel ?? next.channel,
        everConnected: next.everConnected || state === 'CONNECTED',
        me: { ...next.me, uid: uid ?? next.me.uid },
      };
      return next;
    }
    case 'self-muted':
      return { ...s, me: { ...s.me, muted: a.muted } };
    case 'set-name':
      return { ...s, me: { ...s.me, name: a.name } };
    case 'back-to-join':
      return { ...s, screen: 'join', banner: { kind: 'none' } };
    case 'tick':
      return tick(s, a.now);
    case 'event':
      return onEvent(s, a.event);
  }
}

/** Expire what is shown for a limited time. Returns `s` itself when nothing changed. */
function tick(s: AppState, now: number): AppState {
  let next = s;
  if (s.peers.some((p) => p.presence === 'left' && p.leftAt !== null && now - p.leftAt >= LEFT_LINGER_MS)) {
    next = {
      ...next,
      peers: next.peers.filter((p) => !(p.presence === 'left' && p.leftAt !== null && now - p.leftAt >= LEFT_LINGER_MS)),
    };
  }
  if (s.banner.kind === 'reconnected' && now - s.banner.at >= RECONNECTED_NOTE_MS) {
    next = { ...next, banner: { kind: 'none' } };
  }
  if (s.notices.some((n) => n.until <= now)) {
    next = { ...next, notices: next.notices.filter((n) => n.until > now) };
  }
  return next;
}

function onEvent(s0: AppState, e: TetherEvent): AppState {
  let s = s0;
  // A join this window did not ask for (a deep link, another window): start
  // a session so the call screen follows it.
  if (
    e.event === 'connection-state-change' &&
    e.reason === 'JOIN' &&
    e.curState === 'CONNECTING' &&
    !s.joinPending
  ) {
    // Not our join: its arguments (name, server, token) are unknown here, so
    // "Rejoin" falls back to the join screen with the channel filled in.
    s = { ...newSession(s, e.ts, null, s.me.name), lastJoin: null };
  }
  if (e.event === 'volume-indicator' || e.event === 'network-quality') {
    return onMeter(s, e);
  }
  // Per-stream receive statistics (every second): for diagnostics, not shown.
  if (e.event === 'media-stats') return s;
  const kind = TIMELINE_KIND[e.event];
  if (kind) {
    if (s.t0 === null) s = { ...s, t0: e.ts };
    s = log(s, { ts: e.ts, kind, event: e.event, text: eventText(e, (uid) => peerName(s, uid)) });
  }
  switch (e.event) {
    case 'connection-state-change':
      return onStateChange(s, e);
    case 'connected':
      return s.banner.kind === 'reconnected' ? { ...s, banner: { ...s.banner, mode: e.mode } } : s;
    case 'reconnect-attempt': {
      const prev = s.banner.kind === 'reconnecting' ? s.banner : null;
      if (!prev && !(s.everConnected && s.connection === 'CONNECTING')) return s;
      return {
        ...s,
        banner: {
          kind: 'reconnecting',
          since: prev?.since ?? e.ts,
          cause: prev?.cause ?? null,
          attempt: e.attempt,
          mode: e.mode,
          nextAt: e.nextAt,
          giveUpAt: e.giveUpAt,
        },
      };
    }
    case 'peer-online': {
      if (e.uid === s.me.uid) return s;
      const i = s.peers.findIndex((p) => p.uid === e.uid);
      const name = e.name.trim() || `User ${e.uid}`;
      if (i < 0) return { ...s, peers: [...s.peers, newPeer(e.uid, name)] };
      // Back after a leave (T10), or a repeat: a fresh tile in the same place.
      const peers = s.peers.slice();
      peers[i] = newPeer(e.uid, name);
      return { ...s, peers };
    }
    case 'peer-leave':
      return updatePeer(s, e.uid, (p) => ({
        ...p,
        presence: 'left',
        leftAt: e.ts,
        leaveReason: e.reason,
        media: 'none',
        level: 0,
        quality: UNKNOWN_QUALITY,
      }));
    case 'peer-reconnecting':
      return updatePeer(s, e.uid, (p) => (p.presence === 'left' ? p : { ...p, presence: 'reconnecting', level: 0 }));
    case 'peer-reconnected':
      return updatePeer(s, e.uid, (p) => (p.presence === 'left' ? p : { ...p, presence: 'online' }));
    case 'stream-added':
      if (e.uid === s.me.uid) return s;
      return updatePeer(
        s,
        e.uid,
        (p) => ({ ...p, media: 'live', published: { audio: e.audio, video: e.video } }),
        true,
      );
    case 'stream-removed':
      return updatePeer(s, e.uid, (p) =>
        e.reason === 'NO_DATA'
          ? { ...p, media: 'no-data', subscribed: false, level: 0 }
          : { ...p, media: 'none', published: { audio: false, video: false }, subscribed: false, level: 0 },
      );
    case 'stream-subscribed':
      return updatePeer(s, e.uid, (p) => ({ ...p, subscribed: true }));
    case 'mute-changed':
      if (e.uid === s.me.uid) return { ...s, me: { ...s.me, muted: { audio: e.audio, video: e.video } } };
      return updatePeer(s, e.uid, (p) => ({ ...p, muted: { audio: e.audio, video: e.video } }));
    case 'token-privilege-will-expire':
      return addNotice(s, e.ts, e.expiresAt, 'token', 'Your access token expires in 30 s; renewing it…');
    case 'token-privilege-did-expire':
      // Replaces the "expires in 30 s" warning.
      return addNotice(
        { ...s, notices: s.notices.filter((n) => n.kind !== 'token') },
        e.ts,
        e.ts + NOTICE_MS,
        'token',
        'Your access token expired.',
      );
    case 'exception':
      return addNotice(s, e.ts, e.ts + NOTICE_MS, 'exception', `${e.message} (${e.code})`);
  }
}

function onMeter(
  s: AppState,
  e: Extract<TetherEvent, { event: 'volume-indicator' | 'network-quality' }>,
): AppState {
  if (e.event === 'network-quality') {
    const quality = { uplink: e.uplink, downlink: e.downlink };
    if (e.uid === null || e.uid === s.me.uid) return { ...s, me: { ...s.me, quality } };
    return updatePeer(s, e.uid, (p) => ({ ...p, quality }));
  }
  // Each indicator is a full picture: whoever is not listed is silent.
  const level = (uid: number) => {
    const found = e.levels.find((l) => l.uid === uid);
    return found ? found.level : 0;
  };
  const mine = e.levels.find((l) => l.uid === 0 || l.uid === s.me.uid)?.level ?? 0;
  const peers = s.peers.map((p) => {
    const l = p.presence === 'online' ? level(p.uid) : 0;
    return l === p.level ? p : { ...p, level: l };
  });
  return { ...s, peers, me: mine === s.me.level ? s.me : { ...s.me, level: mine } };
}

function onStateChange(
  s0: AppState,
  e: Extract<TetherEvent, { event: 'connection-state-change' }>,
): AppState {
  const s: AppState = { ...s0, connection: e.curState, lastReason: e.reason };
  switch (e.curState) {
    case 'CONNECTING':
      if (e.reason === 'JOIN') return { ...s, joinPending: false, joinError: null, screen: 'call' };
      if (s.everConnected || e.prevState === 'CONNECTED') {
        const d = e.detail;
        return {
          ...s,
          banner: {
            kind: 'reconnecting',
            since: e.ts,
            cause: d.cause ?? null,
            attempt: d.attempt ?? 1,
            mode: d.mode ?? null,
            nextAt: d.nextAt ?? null,
            giveUpAt: d.giveUpAt ?? null,
          },
        };
      }
      return s;
    case 'CONNECTED': {
      const wasReconnecting = s.banner.kind === 'reconnecting' || e.reason === 'RECONNECT_SUCCESS';
      const since = s.banner.kind === 'reconnecting' ? s.banner.since : e.ts;
      return {
        ...s,
        everConnected: true,
        joinPending: false,
        banner: wasReconnecting ? { kind: 'reconnected', at: e.ts, downMs: e.ts - since, mode: null } : { kind: 'none' },
      };
    }
    case 'DISCONNECTING':
      return { ...s, banner: { kind: 'none' } };
    case 'DISCONNECTED':
      if (e.reason === 'LEAVE') {
        // The person left: back to the join screen.
        return { ...s, screen: 'join', banner: { kind: 'none' }, peers: [], joinPending: false };
      }
      // An ending: no roster any more; say why and offer to rejoin. Token
      // notices are superseded by the final message.
      return {
        ...s,
        joinPending: false,
        peers: [],
        notices: s.notices.filter((n) => n.kind !== 'token'),
        me: { ...s.me, level: 0 },
        banner: { kind: 'final', at: e.ts, reason: e.reason, message: e.detail.message ?? null },
      };
  }
}
