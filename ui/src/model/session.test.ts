import { describe, expect, it } from 'vitest';

import type { JoinArgs, TetherEvent } from '../api';
import { giveUp, resumePeer, resumeSelf, T, toEvents, tokenExpired, uid1View, uid2View, type Step } from '../test/scenarios';
import {
  type AppState,
  initialState,
  LEFT_LINGER_MS,
  peerBadge,
  RECONNECTED_NOTE_MS,
  reduce,
  SPEAKING_THRESHOLD,
  isSpeaking,
  showsSpeaking,
} from './session';
import { bannerView, connectionBadge } from './view';

const T0 = 1_764_245_000_000;

function joined(name: string, uid: number): AppState {
  const args: JoinArgs = { channel: 'demo', name, server: null, token: null };
  let s = reduce(initialState(), { type: 'join-requested', args, at: T0 });
  s = reduce(s, { type: 'join-result', joined: { channel: 'demo', uid, server: 'ws://127.0.0.1:7800' } });
  return s;
}

/** Replays steps up to and including offset `until`, ticking the clock along. */
function replay(s: AppState, steps: Step[], until = Infinity): AppState {
  for (const e of toEvents(T0, steps.filter((st) => st.at <= until))) {
    s = reduce(s, { type: 'tick', now: e.ts });
    s = reduce(s, { type: 'event', event: e });
  }
  return s;
}

const at = (s: AppState, offset: number) => reduce(s, { type: 'tick', now: T0 + offset });
const badgeOf = (s: AppState, uid: number) => {
  const p = s.peers.find((x) => x.uid === uid);
  return p ? peerBadge(p) : undefined;
};

describe('SPEC §3 timeline, UID 1 (alice) view', () => {
  const steps = uid1View();

  it('T0: join called opens the call screen and starts the timeline', () => {
    const s = joined('Alice', 1);
    expect(s.screen).toBe('call');
    expect(s.t0).toBe(T0);
    expect(s.timeline.map((e) => e.event)).toEqual(['join']);
    expect(connectionBadge(s).state).toBe('DISCONNECTED');
  });

  it('T1: CONNECTING then CONNECTED, no banner, bob online', () => {
    let s = replay(joined('Alice', 1), steps, T.T1);
    expect(s.connection).toBe('CONNECTING');
    expect(connectionBadge(s).text).toBe('Connecting');
    expect(s.banner.kind).toBe('none');
    s = replay(joined('Alice', 1), steps, T.T1 + 100);
    expect(s.connection).toBe('CONNECTED');
    expect(s.everConnected).toBe(true);
    expect(s.banner.kind).toBe('none');
    expect(badgeOf(s, 2)).toBe('online');
    expect(s.me.quality).toEqual({ uplink: 1, downlink: 1 });
    expect(s.peers[0].quality).toEqual({ uplink: 2, downlink: 1 });
  });

  it('T5..T7: nothing until the keepalive fires, then the reconnect banner with cause and countdowns', () => {
    let s = replay(joined('Alice', 1), steps, T.T5 + 500);
    expect(s.connection).toBe('CONNECTED');
    s = replay(joined('Alice', 1), steps, T.T7);
    expect(s.connection).toBe('CONNECTING');
    expect(connectionBadge(s)).toEqual({ state: 'RECONNECTING', text: 'Reconnecting' });
    expect(s.banner).toMatchObject({ kind: 'reconnecting', cause: 'KEEPALIVE_TIMEOUT', attempt: 1, mode: 'RESUME' });
    const v = bannerView(s.banner, T0 + T.T7 + 100);
    expect(v).toMatchObject({
      kind: 'reconnecting',
      title: 'Connection lost — no answer from the server',
      attempt: 1,
      nextIn: 1,
      nextText: 'Next attempt in 1 s',
      giveUpText: 'Giving up in 20 min 00 s',
    });
    // bob's tile stays (last known) while we reconnect
    expect(badgeOf(s, 2)).toBe('online');
  });

  it('T7..T9: attempts advance the banner; the countdown follows nextAt', () => {
    const s = replay(joined('Alice', 1), steps, T.T9 - 200);
    expect(s.banner).toMatchObject({ kind: 'reconnecting', attempt: 4, mode: 'REJOIN', cause: 'KEEPALIVE_TIMEOUT' });
    const v1 = bannerView(s.banner, T0 + T.T9 - 200);
    const v2 = bannerView(s.banner, T0 + T.T9 + 2_000);
    if (v1.kind !== 'reconnecting' || v2.kind !== 'reconnecting') throw new Error('banner');
    expect(v1.nextIn).toBe(9);
    expect(v2.nextIn).toBe(6);
    expect(v1.mode).toBe('rejoining');
  });

  it('T9: RECONNECT_SUCCESS shows "Reconnected" briefly, then nothing', () => {
    let s = replay(joined('Alice', 1), steps);
    expect(s.connection).toBe('CONNECTED');
    expect(s.banner).toMatchObject({ kind: 'reconnected', mode: 'REJOIN', downMs: T.T9 - T.T7 });
    expect(bannerView(s.banner, T0 + T.T9)).toMatchObject({
      kind: 'reconnected',
      title: 'Reconnected',
      detail: 'Back after 8.0 s · rejoined',
    });
    s = at(s, T.T9 + RECONNECTED_NOTE_MS - 1);
    expect(s.banner.kind).toBe('reconnected');
    s = at(s, T.T9 + RECONNECTED_NOTE_MS);
    expect(s.banner.kind).toBe('none');
  });

  it('the timeline lists every state change and session event with its time since T0', () => {
    const s = replay(joined('Alice', 1), steps);
    const rows = s.timeline.map((e) => [e.ts - (s.t0 ?? 0), e.event]);
    expect(rows).toEqual([
      [0, 'join'],
      [T.T1, 'connection-state-change'],
      [T.T1 + 30, 'connection-state-change'],
      [T.T1 + 31, 'connected'],
      [T.T1 + 40, 'peer-online'],
      [T.T7, 'connection-state-change'],
      [T.T7, 'reconnect-attempt'],
      [T.T7 + 1_000, 'reconnect-attempt'],
      [T.T7 + 3_000, 'reconnect-attempt'],
      [T.T9 - 200, 'reconnect-attempt'],
      [T.T9, 'connection-state-change'],
      [T.T9 + 1, 'connected'],
    ]);
    expect(s.timeline[5].text).toBe(
      'CONNECTED → CONNECTING (INTERRUPTED) · Connection lost — no answer from the server',
    );
  });
});

describe('SPEC §3 timeline, UID 2 (bob) view', () => {
  const steps = uid2View();
  const start = () => joined('Bob', 2);

  it('T2: alice comes online with initials (no stream yet)', () => {
    const s = replay(start(), steps, T.T2);
    expect(s.peers).toHaveLength(1);
    expect(s.peers[0]).toMatchObject({ uid: 1, name: 'Alice', media: 'none' });
    expect(badgeOf(s, 1)).toBe('online');
  });

  it('T4: stream-added and subscribed; speaking above the threshold', () => {
    const s = replay(start(), steps, T.T4 + 600);
    expect(s.peers[0]).toMatchObject({ media: 'live', published: { audio: true, video: true }, subscribed: true, level: 64 });
    expect(isSpeaking(s.peers[0].level)).toBe(true);
    expect(isSpeaking(SPEAKING_THRESHOLD)).toBe(false);
    expect(showsSpeaking(true, { audio: false, video: true }, 64)).toBe(true);
    expect(showsSpeaking(true, { audio: true, video: false }, 64)).toBe(false); // muted: never speaking
    expect(showsSpeaking(false, { audio: false, video: false }, 64)).toBe(false); // reconnecting or left
    expect(s.peers[0].quality).toEqual({ uplink: 1, downlink: 2 });
  });

  it('T6: stream-removed NO_DATA → "no media", tile stays', () => {
    const s = replay(start(), steps, T.T6);
    expect(badgeOf(s, 1)).toBe('no media');
    expect(s.peers[0].level).toBe(0);
  });

  it('T8: peer-leave SERVER_TIMEOUT → "left", then the tile goes after LEFT_LINGER_MS', () => {
    let s = replay(start(), steps, T.T8);
    expect(badgeOf(s, 1)).toBe('left');
    expect(s.peers[0].leaveReason).toBe('SERVER_TIMEOUT');
    s = at(s, T.T8 + LEFT_LINGER_MS - 1);
    expect(badgeOf(s, 1)).toBe('left');
    s = at(s, T.T8 + LEFT_LINGER_MS);
    expect(s.peers).toHaveLength(0);
  });

  it('T10: alice is back online, then her stream again', () => {
    let s = replay(start(), steps, T.T10);
    expect(badgeOf(s, 1)).toBe('online');
    expect(s.peers[0].media).toBe('none');
    s = replay(start(), steps);
    expect(s.peers[0]).toMatchObject({ uid: 1, media: 'live', subscribed: true });
    expect(s.banner.kind).toBe('none');
    expect(s.connection).toBe('CONNECTED');
  });

  it('a peer-online before the left tile expired revives the same tile', () => {
    const early: Step[] = [...steps.filter((x) => x.at <= T.T8), { at: T.T8 + 1_000, event: { event: 'peer-online', uid: 1, name: 'Alice' } }];
    const s = replay(start(), early);
    expect(s.peers).toHaveLength(1);
    expect(badgeOf(s, 1)).toBe('online');
  });

  it('bob sees no banner at all: his own connection never dropped', () => {
    let s = start();
    for (const e of toEvents(T0, steps)) {
      s = reduce(s, { type: 'event', event: e });
      expect(s.banner.kind).toBe('none');
    }
  });
});

describe('resume', () => {
  it('peer-reconnecting greys the tile, peer-reconnected restores it, no leave', () => {
    const steps = resumePeer();
    let s = replay(joined('Bob', 2), steps, 6_000);
    expect(badgeOf(s, 1)).toBe('reconnecting');
    s = at(s, 6_000 + LEFT_LINGER_MS * 3);
    expect(badgeOf(s, 1)).toBe('reconnecting'); // stays until a leave or a reconnect
    s = replay(joined('Bob', 2), steps);
    expect(badgeOf(s, 1)).toBe('online');
    expect(s.peers[0].media).toBe('live');
    expect(s.timeline.some((e) => e.event === 'peer-leave')).toBe(false);
  });

  it('own resume: banner says "Network changed", then "Reconnected · session resumed"', () => {
    const steps = resumeSelf();
    let s = replay(joined('Alice', 1), steps, 6_000);
    expect(bannerView(s.banner, T0 + 6_000)).toMatchObject({ title: 'Network changed', mode: 'resuming the session' });
    s = replay(joined('Alice', 1), steps);
    expect(bannerView(s.banner, T0 + 7_600)).toMatchObject({ kind: 'reconnected', detail: 'Back after 1.5 s · session resumed' });
    expect(badgeOf(s, 2)).toBe('online');
  });

  it('a peer-reconnecting never brings back a peer that left', () => {
    const steps: Step[] = [...resumePeer().slice(0, 5), { at: 8_000, event: { event: 'peer-leave', uid: 1, reason: 'QUIT' } }, { at: 8_001, event: { event: 'peer-reconnected', uid: 1 } }];
    const s = replay(joined('Bob', 2), steps);
    expect(badgeOf(s, 1)).toBe('left');
  });
});

describe('endings', () => {
  it('give-up: countdowns to the deadline, then a final GAVE_UP message with Rejoin', () => {
    const steps = giveUp(60_000);
    let s = replay(joined('Alice', 1), steps, 5_000);
    const v = bannerView(s.banner, T0 + 5_000);
    expect(v).toMatchObject({ kind: 'reconnecting', title: 'Server restarted', attempt: 3, nextIn: 5, giveUpIn: 57, giveUpText: 'Giving up in 57 s' });
    s = replay(joined('Alice', 1), steps);
    expect(s.connection).toBe('DISCONNECTED');
    expect(s.screen).toBe('call');
    expect(s.peers).toEqual([]);
    expect(bannerView(s.banner, T0 + 70_000)).toEqual({
      kind: 'final',
      title: 'Could not reconnect',
      explain: 'Tether kept trying until the give-up deadline and the server never answered.',
      message: 'no server answered for 60 s',
      reason: 'GAVE_UP',
    });
    expect(connectionBadge(s)).toEqual({ state: 'DISCONNECTED', text: 'Disconnected' });
    expect(s.lastJoin?.channel).toBe('demo');
  });

  it('expired token: a notice before, then the final TOKEN_EXPIRED message', () => {
    const steps = tokenExpired();
    let s = replay(joined('Alice', 1), steps, 1_000);
    expect(s.notices.map((n) => n.kind)).toEqual(['token']);
    expect(s.notices[0].text).toMatch(/expires in 30 s/);
    s = replay(joined('Alice', 1), steps);
    expect(s.banner).toMatchObject({ kind: 'final', reason: 'TOKEN_EXPIRED', message: 'token expired' });
    expect(bannerView(s.banner, T0)).toMatchObject({ title: 'Your access token expired' });
    expect(s.timeline.filter((e) => e.kind === 'token').map((e) => e.event)).toEqual([
      'token-privilege-will-expire',
      'token-privilege-did-expire',
    ]);
  });

  it('a failed first join (never connected) ends with JOIN_FAILED, not a reconnect banner', () => {
    const ev = (at: number, e: Omit<Extract<TetherEvent, { event: 'connection-state-change' }>, 'ts'>): Step => ({ at, event: e });
    const s = replay(joined('Alice', 1), [
      ev(10, { event: 'connection-state-change', prevState: 'DISCONNECTED', curState: 'CONNECTING', reason: 'JOIN', detail: {} }),
      ev(5_000, { event: 'connection-state-change', prevState: 'CONNECTING', curState: 'DISCONNECTED', reason: 'JOIN_FAILED', detail: { message: 'connection refused' } }),
    ]);
    expect(s.banner).toMatchObject({ kind: 'final', reason: 'JOIN_FAILED', message: 'connection refused' });
    expect(s.everConnected).toBe(false);
  });

  it('leave: DISCONNECTING then DISCONNECTED (LEAVE) returns to the join screen', () => {
    const steps = uid1View().filter((x) => x.at <= T.T1 + 100);
    let s = replay(joined('Alice', 1), steps);
    s = reduce(s, { type: 'event', event: { ts: T0 + 2_000, event: 'connection-state-change', prevState: 'CONNECTED', curState: 'DISCONNECTING', reason: 'LEAVE', detail: {} } });
    expect(connectionBadge(s).text).toBe('Leaving');
    s = reduce(s, { type: 'event', event: { ts: T0 + 2_050, event: 'connection-state-change', prevState: 'DISCONNECTING', curState: 'DISCONNECTED', reason: 'LEAVE', detail: {} } });
    expect(s.screen).toBe('join');
    expect(s.banner.kind).toBe('none');
  });
});

describe('other actions', () => {
  it('join-failed returns to the join screen with the IPC error', () => {
    const s = reduce(joined('A', 1), { type: 'join-failed', error: { code: 'INVALID_CHANNEL', message: 'bad name' }, at: T0 });
    expect(s.screen).toBe('join');
    expect(s.joinError).toEqual({ code: 'INVALID_CHANNEL', message: 'bad name' });
  });

  it('a JOIN this window did not request (deep link) starts a session; the snapshot fills channel and uid', () => {
    let s = reduce(initialState(), {
      type: 'event',
      event: { ts: T0, event: 'connection-state-change', prevState: 'DISCONNECTED', curState: 'CONNECTING', reason: 'JOIN', detail: {} },
    });
    expect(s.screen).toBe('call');
    expect(s.t0).toBe(T0);
    s = reduce(s, { type: 'snapshot', snapshot: { state: 'CONNECTING', channel: 'demo', uid: 7, server: 'ws://127.0.0.1:7800' }, at: T0 + 5 });
    expect(s.channel).toBe('demo');
    expect(s.me.uid).toBe(7);
    expect(s.lastJoin).toBeNull();
  });

  it('after our own session ended, a deep-link join forgets our join arguments (Rejoin goes to the join screen)', () => {
    const sc = (ts: number, prevState: 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED', curState: 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED', reason: 'JOIN' | 'JOIN_SUCCESS' | 'KICKED'): TetherEvent => ({
      ts, event: 'connection-state-change', prevState, curState, reason, detail: {},
    });
    let s = joined('Ann', 1);
    s = reduce(s, { type: 'event', event: sc(T0 + 1, 'DISCONNECTED', 'CONNECTING', 'JOIN') });
    s = reduce(s, { type: 'event', event: sc(T0 + 2, 'CONNECTING', 'CONNECTED', 'JOIN_SUCCESS') });
    s = reduce(s, { type: 'event', event: sc(T0 + 3, 'CONNECTED', 'DISCONNECTED', 'KICKED') });
    expect(s.lastJoin?.channel).toBe('demo');
    s = reduce(s, { type: 'event', event: sc(T0 + 9, 'DISCONNECTED', 'CONNECTING', 'JOIN') });
    expect(s.lastJoin).toBeNull();
    expect(s.t0).toBe(T0 + 9);
    expect(s.timeline.map((e) => e.event)).toEqual(['connection-state-change']);
  });

  it('a snapshot at start-up while connected shows the call screen', () => {
    const s = reduce(initialState(), { type: 'snapshot', snapshot: { state: 'CONNECTED', channel: 'x', uid: 3, server: 'ws://127.0.0.1:7800' }, at: T0 });
    expect(s.screen).toBe('call');
    expect(s.everConnected).toBe(true);
    expect(s.t0).toBe(T0);
    expect(s.timeline.map((e) => e.text)).toEqual([
      'window opened: already CONNECTED in “x” (earlier events are in the diagnostics export)',
    ]);
    expect(reduce(initialState(), { type: 'snapshot', snapshot: { state: 'DISCONNECTED', channel: null, uid: null, server: null }, at: T0 }).screen).toBe('join');
  });

  it('mute-changed for self and for peers; volume-indicator is a full snapshot', () => {
    let s = replay(joined('Bob', 2), uid2View(), T.T4);
    const ev = (e: TetherEvent) => (s = reduce(s, { type: 'event', event: e }));
    ev({ ts: T0 + 2_000, event: 'mute-changed', uid: 1, audio: true, video: false });
    ev({ ts: T0 + 2_001, event: 'mute-changed', uid: 2, audio: false, video: true });
    expect(s.peers[0].muted).toEqual({ audio: true, video: false });
    expect(s.me.muted).toEqual({ audio: false, video: true });
    ev({ ts: T0 + 2_100, event: 'volume-indicator', levels: [{ uid: 1, level: 80 }, { uid: 2, level: 30 }] });
    expect([s.peers[0].level, s.me.level]).toEqual([80, 30]);
    ev({ ts: T0 + 2_600, event: 'volume-indicator', levels: [] });
    expect([s.peers[0].level, s.me.level]).toEqual([0, 0]);
    // meters stay out of the timeline
    expect(s.timeline.some((e) => e.event === 'volume-indicator' || e.event === 'network-quality')).toBe(false);
  });

  it('ticks that change nothing return the same state object (no re-render)', () => {
    const s = replay(joined('Bob', 2), uid2View(), T.T4);
    expect(reduce(s, { type: 'tick', now: T0 + 9_999 })).toBe(s);
  });

  it('a peer without a name is shown by uid', () => {
    const s = reduce(joined('A', 1), { type: 'event', event: { ts: T0, event: 'peer-online', uid: 42, name: ' ' } });
    expect(s.peers[0].name).toBe('User 42');
  });

  it('exceptions become notices that expire', () => {
    let s = reduce(joined('A', 1), { type: 'event', event: { ts: T0, event: 'exception', code: 'DEVICE_LOST', message: 'Camera unplugged' } });
    expect(s.notices[0]).toMatchObject({ kind: 'exception', text: 'Camera unplugged (DEVICE_LOST)' });
    s = reduce(s, { type: 'tick', now: T0 + 10_000 });
    expect(s.notices).toEqual([]);
  });
});
