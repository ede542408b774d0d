// The built UI in real Chromium with the shell mocked: replays the SPEC §3
// timeline from both sides, a resume, a give-up and an expired token, and
// checks what a person would see. Screenshots go to test-artifacts/ui/.

import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { LEFT_LINGER_MS, RECONNECTED_NOTE_MS } from '../src/model/session';
import { giveUp, resumePeer, resumeSelf, T, tokenExpired, uid1View, uid2View } from '../src/test/scenarios';
import {
  advanceTo,
  attr,
  calls,
  emit,
  joinFromUi,
  launch,
  offerInvite,
  open,
  replay,
  sendFrame,
  settle,
  shot,
  text,
  visible,
  type Session,
} from './harness';

let browser: Browser;
let session: Session | null = null;

beforeAll(async () => {
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  // Whatever the test did, the page must not have logged errors or CSP violations.
  const problems = session?.problems ?? [];
  await session?.close();
  session = null;
  expect(problems).toEqual([]);
});

const seconds = (s: string | null) => Number(/(\d+) s$/.exec(s ?? '')?.[1] ?? NaN);

describe('join screen', () => {
  it('validates the channel name and shows IPC errors', async () => {
    session = await open(
      browser,
      { uid: 1, errors: { join: { code: 'INVALID_SERVER', message: 'No Tether server answers at ws://10.9.8.7:7800' } } },
      'Alice',
    );
    const { page } = session;
    expect(await page.inputValue('[data-testid="name-input"]')).toBe('Alice');
    await page.fill('[data-testid="channel-input"]', 'team room/1');
    await page.click('[data-testid="join-button"]');
    await settle(page);
    expect(await text(page, 'channel-error')).toBe('Use only letters A–Z a–z, digits 0–9, and _ - . (not space, “/”).');
    expect((await calls(page)).some((c) => c.cmd === 'join')).toBe(false);
    await shot(page, '01-join-validation');

    // Keyboard only: recent channel chip, custom server, Enter to join.
    await page.focus('[data-testid="recent-demo"]');
    await page.keyboard.press('Enter');
    expect(await page.inputValue('[data-testid="channel-input"]')).toBe('demo');
    await page.check('[data-testid="server-custom"]');
    await settle(page);
    await page.fill('[data-testid="server-input"]', 'ws://10.9.8.7:7800');
    await page.focus('[data-testid="channel-input"]');
    await page.keyboard.press('Enter');
    await settle(page);
    const join = (await calls(page)).find((c) => c.cmd === 'join');
    expect(join?.args).toEqual({ channel: 'demo', name: 'Alice', server: 'ws://10.9.8.7:7800', token: null });
    expect(await text(page, 'join-error')).toBe(
      'Could not join: No Tether server answers at ws://10.9.8.7:7800 INVALID_SERVER',
    );
    await shot(page, '02-join-ipc-error');
  });
});

describe('SPEC §3 timeline T0–T10', () => {
  it("UID 1's view: connected, interrupted with a live countdown, reconnected", async () => {
    session = await open(browser, { uid: 1 }, 'Alice');
    const { page } = session;
    const steps = uid1View();
    const t0 = await joinFromUi(page, 'demo');
    expect(await visible(page, 'tile-self')).toBe(true);

    await replay(page, t0, steps, -1, T.T1 + 200);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('CONNECTED');
    expect(await text(page, 'badge-2')).toBe('online');
    expect(await text(page, 'banner')).toBeNull();
    await shot(page, '10-uid1-T1-connected');

    // T5: the cut; nothing changes until the keepalive fires at T7.
    await replay(page, t0, steps, T.T1 + 200, T.T7 - 1);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('CONNECTED');
    await replay(page, t0, steps, T.T7 - 1, T.T7 + 200);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('RECONNECTING');
    expect(await text(page, 'banner-title')).toBe('Connection lost — no answer from the server');
    expect(await text(page, 'banner-attempt')).toBe('Reconnecting — attempt 1 (resuming the session)');
    expect(await text(page, 'banner-next')).toBe('Next attempt in 1 s');
    expect(await text(page, 'banner-giveup')).toBe('Giving up in 20 min 00 s');
    expect(await attr(page, 'banner-region', 'aria-live')).toBe('polite');
    expect(await attr(page, 'tile-self', 'data-badge')).toBe('reconnecting');

    // Attempt 3 at T7+3 s with the next one at T7+7 s: the countdown runs down.
    await replay(page, t0, steps, T.T7 + 200, T.T7 + 3_000);
    expect(await text(page, 'banner-attempt')).toBe('Reconnecting — attempt 3 (resuming the session)');
    const c1 = seconds(await text(page, 'banner-next'));
    const g1 = seconds(await text(page, 'banner-giveup'));
    expect(c1).toBe(4);
    await shot(page, '11-uid1-T7-reconnecting');
    await advanceTo(page, t0 + T.T7 + 5_000);
    await settle(page, 300);
    const c2 = seconds(await text(page, 'banner-next'));
    expect(c2).toBe(2);
    expect(seconds(await text(page, 'banner-giveup'))).toBe(g1 - 2);
    await shot(page, '12-uid1-T7-countdown');

    // Keyboard: Tab reaches "Retry now" and Enter presses it → retry_now.
    let focused: string | null = null;
    for (let i = 0; i < 10 && focused !== 'retry-now'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? null);
    }
    expect(focused).toBe('retry-now');
    await page.keyboard.press('Enter');
    await settle(page);
    expect((await calls(page)).filter((c) => c.cmd === 'retry_now')).toHaveLength(1);

    // T9: reconnected, a brief note, then nothing.
    await replay(page, t0, steps, T.T7 + 3_000, T.T9 + 100);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('CONNECTED');
    expect(await attr(page, 'banner', 'data-kind')).toBe('reconnected');
    expect(await text(page, 'banner-title')).toBe('Reconnected');
    expect(await text(page, 'banner-detail')).toBe('Back after 8.0 s · rejoined');
    await shot(page, '13-uid1-T9-reconnected');
    await advanceTo(page, t0 + T.T9 + RECONNECTED_NOTE_MS + 300);
    await settle(page);
    expect(await text(page, 'banner')).toBeNull();

    const rows = await page.locator('[data-testid="timeline"] li').allTextContents();
    expect(rows[0]).toMatch(/^\+0:00\.000join called/);
    expect(rows).toContain(`+0:11.000CONNECTED → CONNECTING (INTERRUPTED) · Connection lost — no answer from the server`);
    expect(rows.at(-1)).toBe('+0:19.001connected (rejoin)');
    await shot(page, '14-uid1-T10-timeline');
  });

  it("UID 2's view: alice online, live video, no media, left, gone, back", async () => {
    session = await open(browser, { uid: 2 }, 'Bob');
    const { page } = session;
    const steps = uid2View();
    const t0 = await joinFromUi(page, 'demo');

    await replay(page, t0, steps, -1, T.T2);
    expect(await text(page, 'badge-1')).toBe('online');
    expect(await text(page, 'avatar-1')).toBe('AL');

    // T4: stream added; frames arrive on the binary channel and are drawn.
    await replay(page, t0, steps, T.T2, T.T4 + 600);
    for (let n = 1; n <= 3; n++) expect(await sendFrame(page, 1, n)).toBe(true);
    await settle(page, 100);
    expect(await page.locator('[data-testid="video-1"]').isVisible()).toBe(true);
    expect(await attr(page, 'video-1', 'data-frame')).toBe('3');
    expect(await attr(page, 'video-1', 'width')).toBe('320');
    expect(await attr(page, 'tile-1', 'data-speaking')).toBe('true');
    const pixel = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('[data-testid="video-1"]');
      return Array.from(c?.getContext('2d')?.getImageData(1, 1, 1, 1).data ?? []);
    });
    expect(pixel[3]).toBe(255);
    expect(pixel.slice(0, 3).some((v) => v > 0)).toBe(true);
    await shot(page, '20-uid2-T4-stream');

    // Alice mutes both: mute icons, initials instead of her (stale) video; then unmutes.
    await emit(page, { ts: t0 + T.T4 + 700, event: 'mute-changed', uid: 1, audio: true, video: true });
    await settle(page);
    expect(await visible(page, 'mic-off-1')).toBe(true);
    expect(await visible(page, 'cam-off-1')).toBe(true);
    expect(await visible(page, 'avatar-1')).toBe(true);
    expect(await page.locator('[data-testid="video-1"]').isVisible()).toBe(false);
    expect(await attr(page, 'tile-1', 'data-speaking')).toBe('false');
    await shot(page, '20b-uid2-T4-muted');
    await emit(page, { ts: t0 + T.T4 + 800, event: 'mute-changed', uid: 1, audio: false, video: false });
    await settle(page);
    expect(await visible(page, 'mic-off-1')).toBe(false);
    expect(await page.locator('[data-testid="video-1"]').isVisible()).toBe(true);

    // T6: no data for 10 s → "no media", initials again.
    await replay(page, t0, steps, T.T4 + 600, T.T6 + 10);
    expect(await text(page, 'badge-1')).toBe('no media');
    expect(await page.locator('[data-testid="video-1"]').isVisible()).toBe(false);
    expect(await attr(page, 'tile-1', 'data-speaking')).toBe('false');
    await shot(page, '21-uid2-T6-no-media');

    // T8: the server times alice out → "left", greyed, then the tile goes.
    await replay(page, t0, steps, T.T6 + 10, T.T8 + 10);
    expect(await text(page, 'badge-1')).toBe('left');
    await shot(page, '22-uid2-T8-left');
    await advanceTo(page, t0 + T.T8 + LEFT_LINGER_MS - 100);
    await settle(page, 10);
    expect(await visible(page, 'tile-1')).toBe(true);
    await advanceTo(page, t0 + T.T8 + LEFT_LINGER_MS + 300);
    await settle(page);
    expect(await visible(page, 'tile-1')).toBe(false);

    // T10: back, then her stream again.
    await replay(page, t0, steps, T.T8 + LEFT_LINGER_MS + 300, Infinity);
    for (let n = 10; n <= 12; n++) await sendFrame(page, 1, n, 20);
    await settle(page, 100);
    expect(await text(page, 'badge-1')).toBe('online');
    expect(await page.locator('[data-testid="video-1"]').isVisible()).toBe(true);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('CONNECTED');
    expect(await text(page, 'banner')).toBeNull();
    const events = await page.locator('[data-testid="timeline"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-event')));
    expect(events).toEqual([
      'join',
      'connection-state-change',
      'connection-state-change',
      'connected',
      'peer-online',
      'stream-added',
      'stream-subscribed',
      'mute-changed',
      'mute-changed',
      'stream-removed',
      'peer-leave',
      'peer-online',
      'stream-added',
      'stream-subscribed',
    ]);
    await shot(page, '23-uid2-T10-back');
  });
});

describe('resume', () => {
  it("bob's view: reconnecting greys the tile, then back; no leave", async () => {
    session = await open(browser, { uid: 2 }, 'Bob');
    const { page } = session;
    const steps = resumePeer();
    const t0 = await joinFromUi(page, 'demo');
    await replay(page, t0, steps, -1, 6_000);
    await sendFrame(page, 1, 1);
    await settle(page, 100);
    expect(await text(page, 'badge-1')).toBe('reconnecting');
    expect(await page.locator('[data-testid="tile-1"]').evaluate((e) => getComputedStyle(e).filter)).toContain('grayscale');
    await shot(page, '30-resume-peer-reconnecting');
    await advanceTo(page, t0 + 7_500);
    await settle(page);
    expect(await text(page, 'badge-1')).toBe('reconnecting'); // still there, well past LEFT_LINGER_MS
    await replay(page, t0, steps, 6_000, Infinity);
    expect(await text(page, 'badge-1')).toBe('online');
    expect(await page.locator('[data-testid="timeline"] li[data-event="peer-leave"]').count()).toBe(0);
    await shot(page, '31-resume-peer-back');
  });

  it("alice's view: Network changed, then Reconnected (session resumed)", async () => {
    session = await open(browser, { uid: 1 }, 'Alice');
    const { page } = session;
    const steps = resumeSelf();
    const t0 = await joinFromUi(page, 'demo');
    await replay(page, t0, steps, -1, 6_400);
    expect(await text(page, 'banner-title')).toBe('Network changed');
    expect(await text(page, 'banner-next')).toBe('Next attempt in 1 s');
    await shot(page, '32-resume-self-reconnecting');
    await replay(page, t0, steps, 6_400, 7_600);
    expect(await text(page, 'banner-detail')).toBe('Back after 1.5 s · session resumed');
    expect(await text(page, 'badge-2')).toBe('online');
    await shot(page, '33-resume-self-reconnected');
  });
});

describe('a join this window did not start', () => {
  it('opens on the call screen (deep link at start) and follows the events', async () => {
    session = await open(
      browser,
      { uid: 5, connection: { state: 'CONNECTED', channel: 'demo', uid: 5, server: 'ws://127.0.0.1:7800' } },
      'Ann',
    );
    const { page } = session;
    await settle(page, 100);
    expect(await visible(page, 'join-form')).toBe(false);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('CONNECTED');
    expect(await text(page, 'channel-name')).toBe('# demo');
    expect(await page.locator('[data-testid="tile-self"] .name').textContent()).toBe('You');
    expect(await page.locator('[data-testid="timeline"] li').first().textContent()).toMatch(
      /^\+0:00\.000window opened: already CONNECTED in “demo”/,
    );
    const t = await page.evaluate(() => Date.now());
    await emit(page, { ts: t + 100, event: 'peer-online', uid: 2, name: 'Bob Stone' });
    await emit(page, { ts: t + 120, event: 'stream-added', uid: 2, audio: true, video: false });
    await emit(page, { ts: t + 130, event: 'network-quality', uid: null, uplink: 2, downlink: 1 });
    await emit(page, { ts: t + 140, event: 'network-quality', uid: 2, uplink: 4, downlink: 3 });
    await settle(page, 200);
    expect(await text(page, 'badge-2')).toBe('online');
    expect(await attr(page, 'quality-self', 'data-quality')).toBe('2');
    expect(await attr(page, 'quality-2', 'data-quality')).toBe('4');
    await shot(page, '50-opened-in-call');
    // Leave → DISCONNECTING → DISCONNECTED (LEAVE) → the join screen, channel filled in.
    await page.click('[data-testid="leave"]');
    await settle(page);
    expect((await calls(page)).some((c) => c.cmd === 'leave')).toBe(true);
    await emit(page, { ts: t + 900, event: 'connection-state-change', prevState: 'CONNECTED', curState: 'DISCONNECTING', reason: 'LEAVE', detail: {} });
    await settle(page);
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('DISCONNECTING');
    await emit(page, { ts: t + 950, event: 'connection-state-change', prevState: 'DISCONNECTING', curState: 'DISCONNECTED', reason: 'LEAVE', detail: {} });
    await settle(page);
    expect(await visible(page, 'join-form')).toBe(true);
    expect(await page.inputValue('[data-testid="channel-input"]')).toBe('demo');
  });
});

describe('a link asks first', () => {
  it('names a foreign server, joins nothing until asked, and switches calls only on Join', async () => {
    // A link opened at start (before the window listened): pending in get_invite.
    const foreign = {
      id: 1,
      channel: 'payroll',
      server: 'ws://203.0.113.9:7800',
      foreignServer: true,
      name: 'Ann',
      hasToken: false,
      leaves: null,
    };
    session = await open(browser, { uid: 5, invite: foreign }, 'Ann');
    const { page } = session;
    await settle(page, 100);
    expect(await visible(page, 'invite-dialog')).toBe(true);
    expect(await text(page, 'invite-channel')).toBe('payroll');
    expect(await text(page, 'invite-server')).toBe('ws://203.0.113.9:7800');
    expect(await text(page, 'invite-warning')).toContain('your camera and microphone go to ws://203.0.113.9:7800');
    // The safe answer has the focus: Enter on a surprise dialog does not join.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('invite-cancel');
    await shot(page, '60-invite-foreign');
    await page.click('[data-testid="invite-cancel"]');
    await settle(page);
    expect(await visible(page, 'invite-dialog')).toBe(false);
    expect(await visible(page, 'join-form')).toBe(true);
    const answered = (await calls(page)).filter((c) => c.cmd === 'answer_invite' || c.cmd === 'join');
    expect(answered).toEqual([{ cmd: 'answer_invite', args: { id: 1, accept: false } }]);

    // A second link to the usual server: Join opens the call.
    await offerInvite(page, { ...foreign, id: 2, channel: 'standup', server: null, foreignServer: false });
    await settle(page);
    expect(await text(page, 'invite-server')).toBe('Your usual server');
    expect(await visible(page, 'invite-warning')).toBe(false);
    await shot(page, '61-invite-own-server');
    await page.click('[data-testid="invite-join"]');
    await settle(page, 100);
    expect((await calls(page)).filter((c) => c.cmd === 'answer_invite').at(-1)).toEqual({
      cmd: 'answer_invite',
      args: { id: 2, accept: true },
    });
    expect(await visible(page, 'invite-dialog')).toBe(false);
    expect(await visible(page, 'join-form')).toBe(false);
    expect(await text(page, 'channel-name')).toBe('# standup');
    // Nothing was stored by answering: no set_settings call.
    expect((await calls(page)).some((c) => c.cmd === 'set_settings')).toBe(false);
  });
});

describe('self-view', () => {
  it('the "You" tile draws the local preview mirrored; the avatar with the camera off', async () => {
    session = await open(
      browser,
      { uid: 5, connection: { state: 'CONNECTED', channel: 'demo', uid: 5, server: 'ws://127.0.0.1:7800' } },
      'Ann',
    );
    const { page } = session;
    await settle(page, 100);
    expect(await visible(page, 'avatar-self')).toBe(true);
    // Preview frames: the local uid with the PREVIEW flag (docs/ipc.md "Video").
    for (let n = 1; n <= 3; n++) expect(await sendFrame(page, 5, n, 0, 1)).toBe(true);
    await settle(page, 100);
    expect(await page.locator('[data-testid="video-self"]').isVisible()).toBe(true);
    expect(await visible(page, 'avatar-self')).toBe(false);
    expect(await attr(page, 'video-self', 'data-frame')).toBe('3');
    expect(await attr(page, 'video-self', 'data-preview')).toBe('true');
    // Mirrored on screen, the canvas pixels as sent.
    const transform = await page.locator('[data-testid="video-self"]').evaluate((c) => getComputedStyle(c).transform);
    expect(transform).toBe('matrix(-1, 0, 0, 1, 0, 0)');
    const box = await page.locator('[data-testid="video-self"]').boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(100);
    await shot(page, '60-self-view');
    // Camera off: the avatar, and no stale picture when it comes back.
    await page.click('[data-testid="toggle-camera"]');
    await settle(page);
    expect((await calls(page)).find((c) => c.cmd === 'set_muted')?.args).toEqual({ audio: false, video: true });
    expect(await visible(page, 'avatar-self')).toBe(true);
    expect(await visible(page, 'cam-off-self')).toBe(true);
    expect(await page.locator('[data-testid="video-self"]').isVisible()).toBe(false);
    await shot(page, '61-self-camera-off');
    await page.click('[data-testid="toggle-camera"]');
    await settle(page);
    expect(await visible(page, 'avatar-self')).toBe(true);
    await sendFrame(page, 5, 4, 0, 1);
    await settle(page, 100);
    expect(await page.locator('[data-testid="video-self"]').isVisible()).toBe(true);
  });
});

describe('endings', () => {
  it('give-up: counts down to the deadline, then a final message and Rejoin', async () => {
    session = await open(browser, { uid: 1 }, 'Alice');
    const { page } = session;
    const steps = giveUp(60_000);
    const t0 = await joinFromUi(page, 'demo');
    await replay(page, t0, steps, -1, 5_500);
    expect(await text(page, 'banner-title')).toBe('Server restarted');
    expect(await text(page, 'banner-giveup')).toBe('Giving up in 57 s');
    await advanceTo(page, t0 + 40_000);
    await settle(page, 300);
    expect(await text(page, 'banner-giveup')).toBe('Giving up in 22 s');
    expect(await text(page, 'banner-next')).toBe('Trying now…'); // nextAt passed, no new attempt event
    await replay(page, t0, steps, 40_000, Infinity);
    expect(await attr(page, 'banner', 'data-kind')).toBe('final');
    expect(await text(page, 'banner-title')).toBe('Could not reconnect');
    expect(await text(page, 'banner-message')).toBe('Details: no server answered for 60 s');
    expect(await attr(page, 'connection-badge', 'data-state')).toBe('DISCONNECTED');
    expect(await visible(page, 'tile-2')).toBe(false);
    await shot(page, '40-give-up');
    // The window's smallest size (tauri.conf.json minWidth 720): timeline below the stage.
    await page.setViewportSize({ width: 720, height: 560 });
    await settle(page);
    expect(await page.locator('[data-testid="rejoin"]').isVisible()).toBe(true);
    await shot(page, '40b-give-up-narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.click('[data-testid="rejoin"]');
    await settle(page);
    const joins = (await calls(page)).filter((c) => c.cmd === 'join');
    expect(joins).toHaveLength(2);
    expect(joins[1].args).toEqual(joins[0].args);
    expect(await text(page, 'banner')).toBeNull();
  });

  it('expired token: a notice first, then a final message', async () => {
    session = await open(browser, { uid: 1, diagnosticsPath: '/root/.local/share/tether/diagnostics-20251127-090031.json' }, 'Alice');
    const { page } = session;
    const steps = tokenExpired();
    const t0 = await joinFromUi(page, 'demo');
    await replay(page, t0, steps, -1, 1_100);
    expect(await text(page, 'notices')).toContain('expires in 30 s');
    await shot(page, '41a-token-will-expire');
    await replay(page, t0, steps, 1_100, Infinity);
    expect(await text(page, 'banner-title')).toBe('Your access token expired');
    expect(await attr(page, 'banner', 'data-reason')).toBe('TOKEN_EXPIRED');
    await page.click('[data-testid="export-diagnostics"]');
    await settle(page);
    expect(await text(page, 'export-result')).toBe(
      'Diagnostics saved to /root/.local/share/tether/diagnostics-20251127-090031.json',
    );
    await shot(page, '41-token-expired');
    await page.click('[data-testid="back-to-join"]');
    await settle(page);
    expect(await visible(page, 'join-form')).toBe(true);
  });
});
