// Event sequences replayed by the unit tests (through the reducer) and the
// Chromium tests (through the mocked Tauri event). Times are offsets in ms
// from T0 (the join call); `build(t0)` makes absolute Unix-ms events.

import type { TetherEvent } from '../api';

/** TetherEvent without `ts`, keeping the union discriminated. */
export type EventBody = TetherEvent extends infer E ? (E extends TetherEvent ? Omit<E, 'ts'> : never) : never;

export interface Step {
  /** Offset from T0 in ms. */
  at: number;
  /** The SPEC §3 mark this step belongs to, for readable assertions. */
  mark?: string;
  event: EventBody;
}

export const GIVE_UP_MS = 20 * 60 * 1000;

/** Offsets (ms) of the reference scenario: the keepalive fires 6 s after the cut, both server timeouts are 10 s. */
export const T = {
  T0: 0,
  T1: 50,
  T2: 150,
  T3: 1_000,
  T4: 1_200,
  T5: 5_000,
  T6: 15_000,
  T7: 11_000,
  T8: 15_100,
  T9: 19_000,
  T10: 19_300,
} as const;

const absolute = (t0: number, steps: Step[]): Step[] =>
  steps.map((s) => {
    const e = { ...s.event } as Record<string, unknown>;
    for (const k of ['nextAt', 'giveUpAt', 'expiresAt'] as const) {
      if (typeof e[k] === 'number') e[k] = (e[k] as number) + t0;
    }
    if (e.event === 'connection-state-change') {
      const d = { ...(e.detail as Record<string, unknown>) };
      for (const k of ['nextAt', 'giveUpAt'] as const) {
        if (typeof d[k] === 'number') d[k] = (d[k] as number) + t0;
      }
      e.detail = d;
    }
    return { ...s, event: e as EventBody };
  });

export function toEvents(t0: number, steps: Step[]): TetherEvent[] {
  return absolute(t0, steps).map((s) => ({ ts: t0 + s.at, ...s.event }) as TetherEvent);
}

const joinSteps = (at: number): Step[] => [
  {
    at,
    mark: 'T1',
    event: { event: 'connection-state-change', prevState: 'DISCONNECTED', curState: 'CONNECTING', reason: 'JOIN', detail: {} },
  },
  {
    at: at + 30,
    mark: 'T1',
    event: { event: 'connection-state-change', prevState: 'CONNECTING', curState: 'CONNECTED', reason: 'JOIN_SUCCESS', detail: {} },
  },
  { at: at + 31, mark: 'T1', event: { event: 'connected', mode: 'JOIN', sessionId: 's-1' } },
];

const interrupted = (at: number, cause: 'KEEPALIVE_TIMEOUT' | 'NETWORK_CHANGED' | 'SERVER_RESTART' | 'SOCKET_CLOSED', mode: 'RESUME' | 'REJOIN'): Step[] => [
  {
    at,
    mark: 'T7',
    event: {
      event: 'connection-state-change',
      prevState: 'CONNECTED',
      curState: 'CONNECTING',
      reason: 'INTERRUPTED',
      detail: { cause, attempt: 1, mode, nextAt: at, giveUpAt: at + GIVE_UP_MS },
    },
  },
  { at, mark: 'T7', event: { event: 'reconnect-attempt', attempt: 1, mode, nextAt: at + 1_000, giveUpAt: at + GIVE_UP_MS } },
];

/** SPEC §3 as UID 1 (alice) sees it; bob (uid 2) is already in the channel. */
export function uid1View(): Step[] {
  const t7 = T.T7;
  return [
    ...joinSteps(T.T1),
    { at: T.T1 + 40, mark: 'T1', event: { event: 'peer-online', uid: 2, name: 'Bob' } },
    { at: T.T1 + 60, mark: 'T1', event: { event: 'network-quality', uid: null, uplink: 1, downlink: 1 } },
    { at: T.T1 + 60, mark: 'T1', event: { event: 'network-quality', uid: 2, uplink: 2, downlink: 1 } },
    // T3: alice publishes (no event of her own); T5: the network is cut (nothing to see yet).
    ...interrupted(t7, 'KEEPALIVE_TIMEOUT', 'RESUME'),
    { at: t7 + 1_000, mark: 'T7', event: { event: 'reconnect-attempt', attempt: 2, mode: 'RESUME', nextAt: t7 + 3_000, giveUpAt: t7 + GIVE_UP_MS } },
    { at: t7 + 3_000, mark: 'T7', event: { event: 'reconnect-attempt', attempt: 3, mode: 'RESUME', nextAt: t7 + 7_000, giveUpAt: t7 + GIVE_UP_MS } },
    // T8 (the server drops alice) happens out of her sight; from now on attempts are rejoins.
    { at: T.T9 - 200, mark: 'T9', event: { event: 'reconnect-attempt', attempt: 4, mode: 'REJOIN', nextAt: T.T9 + 8_000, giveUpAt: t7 + GIVE_UP_MS } },
    {
      at: T.T9,
      mark: 'T9',
      event: { event: 'connection-state-change', prevState: 'CONNECTING', curState: 'CONNECTED', reason: 'RECONNECT_SUCCESS', detail: {} },
    },
    { at: T.T9 + 1, mark: 'T9', event: { event: 'connected', mode: 'REJOIN', sessionId: 's-2' } },
    // T10: local streams re-published automatically (again no event of her own).
  ];
}

/** SPEC §3 as UID 2 (bob) sees it: bob joined before alice. */
export function uid2View(): Step[] {
  return [
    ...joinSteps(0),
    { at: T.T2, mark: 'T2', event: { event: 'peer-online', uid: 1, name: 'Alice' } },
    { at: T.T4, mark: 'T4', event: { event: 'stream-added', uid: 1, audio: true, video: true } },
    { at: T.T4 + 20, mark: 'T4', event: { event: 'stream-subscribed', uid: 1 } },
    { at: T.T4 + 500, mark: 'T4', event: { event: 'volume-indicator', levels: [{ uid: 1, level: 64 }] } },
    { at: T.T4 + 600, mark: 'T4', event: { event: 'network-quality', uid: 1, uplink: 1, downlink: 2 } },
    { at: T.T6, mark: 'T6', event: { event: 'stream-removed', uid: 1, reason: 'NO_DATA' } },
    { at: T.T8, mark: 'T8', event: { event: 'peer-leave', uid: 1, reason: 'SERVER_TIMEOUT' } },
    { at: T.T10, mark: 'T10', event: { event: 'peer-online', uid: 1, name: 'Alice' } },
    { at: T.T10 + 300, mark: 'T10', event: { event: 'stream-added', uid: 1, audio: true, video: true } },
    { at: T.T10 + 320, mark: 'T10', event: { event: 'stream-subscribed', uid: 1 } },
  ];
}

/** A short drop: alice is back before the server's timeout; the session resumes. */
export function resumeSelf(): Step[] {
  return [
    ...joinSteps(T.T1),
    { at: 200, event: { event: 'peer-online', uid: 2, name: 'Bob' } },
    ...interrupted(6_000, 'NETWORK_CHANGED', 'RESUME'),
    {
      at: 7_500,
      event: { event: 'connection-state-change', prevState: 'CONNECTING', curState: 'CONNECTED', reason: 'RECONNECT_SUCCESS', detail: {} },
    },
    { at: 7_501, event: { event: 'connected', mode: 'RESUME', sessionId: 's-1' } },
  ];
}

/** The same resume from bob's side: reconnecting, then back; never a leave. */
export function resumePeer(): Step[] {
  return [
    ...joinSteps(0),
    { at: T.T2, event: { event: 'peer-online', uid: 1, name: 'Alice' } },
    { at: T.T4, event: { event: 'stream-added', uid: 1, audio: true, video: true } },
    { at: 6_000, event: { event: 'peer-reconnecting', uid: 1 } },
    { at: 7_600, event: { event: 'peer-reconnected', uid: 1 } },
  ];
}

/** The server never comes back: attempts until the give-up deadline, then GAVE_UP. */
export function giveUp(giveUpMs = 60_000): Step[] {
  const at = 2_000;
  return [
    ...joinSteps(T.T1),
    { at: 200, event: { event: 'peer-online', uid: 2, name: 'Bob' } },
    {
      at,
      event: {
        event: 'connection-state-change',
        prevState: 'CONNECTED',
        curState: 'CONNECTING',
        reason: 'INTERRUPTED',
        detail: { cause: 'SERVER_RESTART', attempt: 1, mode: 'RESUME', nextAt: at, giveUpAt: at + giveUpMs },
      },
    },
    { at, event: { event: 'reconnect-attempt', attempt: 1, mode: 'RESUME', nextAt: at + 1_000, giveUpAt: at + giveUpMs } },
    { at: at + 1_000, event: { event: 'reconnect-attempt', attempt: 2, mode: 'RESUME', nextAt: at + 3_000, giveUpAt: at + giveUpMs } },
    { at: at + 3_000, event: { event: 'reconnect-attempt', attempt: 3, mode: 'REJOIN', nextAt: at + 8_000, giveUpAt: at + giveUpMs } },
    {
      at: at + giveUpMs,
      event: {
        event: 'connection-state-change',
        prevState: 'CONNECTING',
        curState: 'DISCONNECTED',
        reason: 'GAVE_UP',
        detail: { message: 'no server answered for 60 s' },
      },
    },
  ];
}

/** The token runs out and is not renewed: warned, then expired, then ended. */
export function tokenExpired(): Step[] {
  return [
    ...joinSteps(T.T1),
    { at: 200, event: { event: 'peer-online', uid: 2, name: 'Bob' } },
    { at: 1_000, event: { event: 'token-privilege-will-expire', expiresAt: 31_000 } },
    { at: 31_000, event: { event: 'token-privilege-did-expire' } },
    {
      at: 31_010,
      event: {
        event: 'connection-state-change',
        prevState: 'CONNECTED',
        curState: 'DISCONNECTED',
        reason: 'TOKEN_EXPIRED',
        detail: { message: 'token expired' },
      },
    },
  ];
}
