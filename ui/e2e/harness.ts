// Shared by the Chromium tests: launch Debian's chromium through
// playwright-core, open the UI with the mocked shell, push events on a fake
// clock, and save screenshots under test-artifacts/ui/.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { chromium, type Browser, type Page } from 'playwright-core';
import { inject } from 'vitest';

import type { DeviceList, Invite, Settings, TetherEvent } from '../src/api';
import { toEvents, type Step } from '../src/test/scenarios';

export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));
const MOCK = fileURLToPath(new URL('./mock-tauri.js', import.meta.url));

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

/** A fixed wall-clock start so screenshots and timelines are reproducible. */
export const CLOCK_START = Date.UTC(2025, 10, 27, 9, 0, 0);

export interface MockConfig {
  uid: number;
  settings?: Settings;
  devices?: DeviceList;
  errors?: Record<string, { code: string; message: string }>;
  diagnosticsPath?: string;
  /** What get_connection_state answers (default: DISCONNECTED). */
  connection?: { state: string; channel: string | null; uid: number | null; server: string | null };
  /** What get_invite answers: a link opened before the window listened. */
  invite?: Invite;
}

export const defaultSettings = (name: string): Settings => ({
  displayName: name,
  server: null,
  recentChannels: ['demo', 'standup', 'design-review'],
  audioInput: null,
  audioOutput: null,
  videoInput: 'cam-1',
  muteOnJoin: { audio: false, video: false },
  joinLinksWithoutAsking: false,
});

export const defaultDevices: DeviceList = {
  audioInputs: [
    { id: 'mic-1', name: 'Built-in Microphone', isDefault: true },
    { id: 'mic-2', name: 'USB Headset', isDefault: false },
  ],
  audioOutputs: [{ id: 'spk-1', name: 'Speakers', isDefault: true }],
  videoInputs: [{ id: 'cam-1', name: 'Integrated Camera', isDefault: true }],
};

export interface Session {
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  close(): Promise<void>;
}

export async function open(browser: Browser, cfg: MockConfig, name: string): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.clock.install({ time: CLOCK_START });
  const full: MockConfig = { settings: defaultSettings(name), devices: defaultDevices, ...cfg };
  await page.addInitScript({ content: `window.__TETHER_MOCK_CONFIG__ = ${JSON.stringify(full)};` });
  await page.addInitScript({ path: MOCK });
  // tauri.conf.json sets freezePrototype: the app must not need to patch prototypes.
  await page.addInitScript({ content: 'Object.freeze(Object.prototype);' });
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
  await page.goto(inject('baseUrl'));
  await page.waitForSelector('[data-testid="connection-badge"]');
  // Freeze time from here: the test moves it.
  await page.clock.pauseAt(CLOCK_START + 10_000);
  await settle(page);
  return { page, problems, close: () => context.close() };
}

/** Let promises, renders and effects run (effects wait for an animation frame). */
export async function settle(page: Page, ms = 50): Promise<void> {
  await page.clock.runFor(ms);
}

export const now = (page: Page) => page.evaluate(() => Date.now());

export async function emit(page: Page, e: TetherEvent): Promise<void> {
  await page.evaluate((p) => (window as unknown as { __tetherMock: { emit(p: unknown): void } }).__tetherMock.emit(p), e);
}

/**
 * Replays steps whose offset from `t0` is in (from, to], moving the fake
 * clock to each event's time before delivering it; ends with the clock at
 * t0 + to (when `to` is finite).
 */
export async function replay(page: Page, t0: number, steps: Step[], from: number, to: number): Promise<void> {
  const events = toEvents(t0, steps).filter((e) => e.ts - t0 > from && e.ts - t0 <= to);
  for (const e of events) {
    await advanceTo(page, e.ts);
    await emit(page, e);
  }
  if (Number.isFinite(to)) await advanceTo(page, t0 + to);
  await settle(page, 20);
}

export async function advanceTo(page: Page, target: number): Promise<void> {
  const cur = await now(page);
  if (target > cur) await page.clock.runFor(target - cur);
}

export async function text(page: Page, testid: string): Promise<string | null> {
  const el = page.locator(`[data-testid="${testid}"]`);
  return (await el.count()) === 0 ? null : el.first().textContent();
}

export async function attr(page: Page, testid: string, name: string): Promise<string | null> {
  const el = page.locator(`[data-testid="${testid}"]`);
  return (await el.count()) === 0 ? null : el.first().getAttribute(name);
}

export async function visible(page: Page, testid: string): Promise<boolean> {
  const el = page.locator(`[data-testid="${testid}"]`);
  return (await el.count()) > 0 && el.first().isVisible();
}

export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  await page.screenshot({ path, animations: 'disabled' });
  return path;
}

/** Types a channel and presses Join; returns T0 (the join call) on the page clock. */
export async function joinFromUi(page: Page, channel: string): Promise<number> {
  await page.fill('[data-testid="channel-input"]', channel);
  const t0 = await now(page);
  await page.click('[data-testid="join-button"]');
  await settle(page);
  return t0;
}

/** The shell offers a link's invitation (as when a link is opened during a session). */
export async function offerInvite(page: Page, invite: Invite): Promise<void> {
  await page.evaluate((i) => (window as unknown as { __tetherMock: { invite(i: unknown): void } }).__tetherMock.invite(i), invite);
}

export async function calls(page: Page): Promise<{ cmd: string; args: Record<string, unknown> }[]> {
  return page.evaluate(() => (window as unknown as { __tetherMock: { calls: { cmd: string; args: Record<string, unknown> }[] } }).__tetherMock.calls);
}

export async function sendFrame(page: Page, uid: number, frameNo: number, hue = 0, flags = 0): Promise<boolean> {
  return page.evaluate(
    ([u, n, h, f]) => (window as unknown as { __tetherMock: { frame(...a: number[]): boolean } }).__tetherMock.frame(u, 320, 180, n, h, f),
    [uid, frameNo, hue, flags],
  );
}
