// The App with the shell's IPC mocked (@tauri-apps/api/mocks): what the
// components send, and what they show for replies, errors and events.

import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { listenEvent, type Settings, type TetherEvent } from '../api';
import { createController } from '../controller';
import { createStore } from '../store';
import { encodeFrame, FLAG_PREVIEW } from '../video/frame';
import { VideoRouter } from '../video/router';
import { App } from './App';

interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

let calls: Call[];
let replies: Record<string, (args: Record<string, unknown>) => unknown>;
let root: HTMLElement;
let video: VideoRouter;

const settings: Settings = {
  displayName: 'Ann',
  server: null,
  recentChannels: ['standup', 'demo'],
  audioInput: null,
  audioOutput: null,
  videoInput: 'cam-2',
  muteOnJoin: { audio: false, video: false },
  joinLinksWithoutAsking: false,
};

beforeEach(() => {
  calls = [];
  replies = {
    get_settings: () => settings,
    set_settings: (a) => a.settings,
    list_devices: () => ({
      audioInputs: [{ id: 'mic-1', name: 'USB Mic' }],
      audioOutputs: [],
      videoInputs: [
        { id: 'cam-1', name: 'Built-in Camera' },
        { id: 'cam-2', name: 'External Camera' },
      ],
    }),
    get_connection_state: () => ({ state: 'DISCONNECTED', channel: null, uid: null }),
    join: (a) => ({ channel: a.channel, uid: 1, server: 'ws://127.0.0.1:7800' }),
    open_video: () => null,
  };
  mockIPC(
    (cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      const r = replies[cmd];
      return r ? r((args ?? {}) as Record<string, unknown>) : null;
    },
    { shouldMockEvents: true },
  );
  root = document.createElement('div');
  document.body.appendChild(root);
});

afterEach(() => {
  render(null, root);
  root.remove();
  clearMocks();
});

async function settle(times = 5) {
  for (let i = 0; i < times; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

async function mount() {
  const store = createStore();
  video = new VideoRouter();
  const ctl = createController(store, video);
  await act(() => {
    render(<App store={store} ctl={ctl} video={video} />, root);
  });
  await settle();
  return store;
}

const $ = (id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const cmds = () => calls.map((c) => c.cmd);

async function type(id: string, value: string) {
  const el = $(id) as HTMLInputElement;
  await act(() => {
    el.value = value;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

async function click(id: string) {
  await act(() => {
    ($(id) as HTMLElement).click();
  });
  await settle();
}

async function send(e: TetherEvent) {
  await act(async () => {
    await emit('tether-event', e);
  });
  await settle(2);
}

describe('join screen', () => {
  it('fills the display name and devices from settings and offers recent channels', async () => {
    await mount();
    expect(cmds()).toEqual(expect.arrayContaining(['get_settings', 'list_devices', 'get_connection_state']));
    expect(($('name-input') as HTMLInputElement).value).toBe('Ann');
    expect(($('camera-select') as HTMLSelectElement).value).toBe('cam-2');
    expect(($('speaker-select') as HTMLSelectElement).options[0].textContent).toBe('No speaker found');
    await click('recent-demo');
    expect(($('channel-input') as HTMLInputElement).value).toBe('demo');
  });

  it('refuses a bad channel name before sending anything', async () => {
    await mount();
    await type('channel-input', 'my room!');
    await click('join-button');
    expect($('channel-error')?.textContent).toBe('Use only letters A–Z a–z, digits 0–9, and _ - . (not space, “!”).');
    expect(cmds()).not.toContain('join');
    expect($('channel-input')?.getAttribute('aria-invalid')).toBe('true');
  });

  it('joins with the built-in server (null), saves settings with the channel first in recents', async () => {
    const store = await mount();
    await type('channel-input', 'demo');
    await type('name-input', 'Ann Lee');
    await click('join-button');
    const join = calls.find((c) => c.cmd === 'join');
    expect(join?.args).toEqual({ channel: 'demo', name: 'Ann Lee', server: null, token: null });
    // Name and server are stored before join (the shell's join reads the
    // stored server when given null); the channel joins the recents after.
    const saves = calls.filter((c) => c.cmd === 'set_settings').map((c) => c.args.settings as Settings);
    expect(calls.map((c) => c.cmd).filter((c) => c === 'set_settings' || c === 'join')).toEqual(['set_settings', 'join', 'set_settings']);
    expect(saves[0]).toMatchObject({ displayName: 'Ann Lee', server: null, recentChannels: ['standup', 'demo'] });
    expect(saves[1]).toMatchObject({ displayName: 'Ann Lee', server: null, recentChannels: ['demo', 'standup'] });
    expect(store.get().screen).toBe('call');
    expect(store.get().me.uid).toBe(1);
    expect($('tile-self')).not.toBeNull();
    expect($('channel-name')?.textContent).toBe('# demo');
  });

  it('shows an IPC error {code, message} from join clearly', async () => {
    replies.join = () => {
      throw { code: 'INVALID_SERVER', message: 'Cannot reach ws://10.0.0.9:7800' };
    };
    await mount();
    await type('channel-input', 'demo');
    await click('server-custom');
    await type('server-input', 'ws://10.0.0.9:7800');
    await click('join-button');
    expect(calls.find((c) => c.cmd === 'join')?.args.server).toBe('ws://10.0.0.9:7800');
    expect($('join-error')?.textContent).toBe('Could not join: Cannot reach ws://10.0.0.9:7800 INVALID_SERVER');
    expect($('join-form')).not.toBeNull();
  });

  it('remembers a device choice through select_device and set_settings', async () => {
    await mount();
    const sel = $('mic-select') as HTMLSelectElement;
    await act(() => {
      sel.value = 'mic-1';
      sel.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await settle();
    expect(calls.find((c) => c.cmd === 'select_device')?.args).toEqual({ kind: 'audioInput', id: 'mic-1' });
    expect((calls.find((c) => c.cmd === 'set_settings')?.args.settings as Settings).audioInput).toBe('mic-1');
  });
});

describe('call screen', () => {
  async function inCall() {
    const store = await mount();
    await type('channel-input', 'demo');
    await click('join-button');
    const t = Date.now();
    await send({ ts: t, event: 'connection-state-change', prevState: 'DISCONNECTED', curState: 'CONNECTING', reason: 'JOIN', detail: {} });
    await send({ ts: t + 10, event: 'connection-state-change', prevState: 'CONNECTING', curState: 'CONNECTED', reason: 'JOIN_SUCCESS', detail: {} });
    await send({ ts: t + 20, event: 'peer-online', uid: 2, name: 'Bob' });
    return { store, t };
  }

  it('renders tiles and badges from events', async () => {
    const { t } = await inCall();
    expect($('connection-badge')?.dataset.state).toBe('CONNECTED');
    expect($('badge-2')?.textContent).toBe('online');
    expect($('avatar-2')?.textContent).toBe('BO');
    await send({ ts: t + 30, event: 'peer-reconnecting', uid: 2 });
    expect($('tile-2')?.dataset.badge).toBe('reconnecting');
    expect($('tile-2')?.className).toContain('badge-reconnecting');
  });

  it('Retry now calls retry_now; the banner shows cause and attempt', async () => {
    const { t } = await inCall();
    await send({
      ts: t + 100,
      event: 'connection-state-change',
      prevState: 'CONNECTED',
      curState: 'CONNECTING',
      reason: 'INTERRUPTED',
      detail: { cause: 'KEEPALIVE_TIMEOUT', attempt: 1, mode: 'RESUME', nextAt: t + 100, giveUpAt: t + 1_200_100 },
    });
    await send({ ts: t + 100, event: 'reconnect-attempt', attempt: 1, mode: 'RESUME', nextAt: t + 5_100, giveUpAt: t + 1_200_100 });
    expect($('banner-title')?.textContent).toBe('Connection lost — no answer from the server');
    expect($('banner-attempt')?.textContent).toBe('Reconnecting — attempt 1 (resuming the session)');
    expect($('banner-next')?.textContent).toMatch(/^Next attempt in [56] s$/);
    expect($('banner-region')?.getAttribute('aria-live')).toBe('polite');
    await click('retry-now');
    expect(cmds()).toContain('retry_now');
  });

  it('Export diagnostics shows the returned path', async () => {
    replies.export_diagnostics = () => '/home/ann/.local/share/tether/diagnostics-1.json';
    await inCall();
    await click('export-diagnostics');
    expect($('export-result')?.textContent).toBe('Diagnostics saved to /home/ann/.local/share/tether/diagnostics-1.json');
  });

  it('Rejoin after a final reason calls join again with the same arguments', async () => {
    const { t } = await inCall();
    await send({ ts: t + 50, event: 'connection-state-change', prevState: 'CONNECTED', curState: 'DISCONNECTED', reason: 'KICKED', detail: {} });
    expect($('banner-title')?.textContent).toBe('You were removed from the channel');
    calls = [];
    await click('rejoin');
    expect(calls.find((c) => c.cmd === 'join')?.args).toEqual({ channel: 'demo', name: 'Ann', server: null, token: null });
  });

  it('the "You" tile shows the local preview mirrored, and the avatar with the camera off', async () => {
    await inCall();
    const preview = (n: number) =>
      encodeFrame({ uid: 1, width: 4, height: 2, frameNo: n, flags: FLAG_PREVIEW, rgba: new Uint8Array(32).fill(n) });
    // Joined, no frame yet: the avatar.
    expect($('avatar-self')).not.toBeNull();
    expect($('video-self')?.hidden).toBe(true);
    await act(() => video.push(preview(1)));
    await settle();
    expect($('avatar-self')).toBeNull();
    expect($('video-self')?.hidden).toBe(false);
    expect($('video-self')?.dataset.mirrored).toBe('true');
    expect($('video-self')?.classList.contains('mirrored')).toBe(true);
    // Camera off: the avatar, and the last preview frame is forgotten.
    await click('toggle-camera');
    expect(calls.find((c) => c.cmd === 'set_muted')?.args).toEqual({ audio: false, video: true });
    expect($('avatar-self')).not.toBeNull();
    expect($('video-self')?.hidden).toBe(true);
    expect(video.hasVideo(1)).toBe(false);
    // Camera on: still the avatar until a fresh frame comes, then the video.
    await click('toggle-camera');
    expect($('avatar-self')).not.toBeNull();
    await act(() => video.push(preview(2)));
    await settle();
    expect($('video-self')?.hidden).toBe(false);
    // A peer's video is never mirrored.
    expect($('video-2')?.dataset.mirrored).toBe('false');
  });

  it('mute buttons call set_muted and show the icons', async () => {
    await inCall();
    await click('toggle-mic');
    expect(calls.find((c) => c.cmd === 'set_muted')?.args).toEqual({ audio: true, video: false });
    expect($('mic-off-self')).not.toBeNull();
    expect($('toggle-mic')?.getAttribute('aria-pressed')).toBe('true');
  });
});

describe('invitation (deep link)', () => {
  const invite = {
    id: 7,
    channel: 'ops',
    server: 'ws://10.9.9.9:7800',
    foreignServer: true,
    name: 'Ann',
    hasToken: true,
    leaves: 'demo',
  };

  it('shows a pending invitation at start and answers Cancel with accept=false', async () => {
    replies.get_invite = () => invite;
    replies.answer_invite = () => null;
    await mount();
    expect($('invite-dialog')).not.toBeNull();
    expect($('invite-warning')?.textContent).toContain('ws://10.9.9.9:7800');
    expect($('invite-leaves')?.textContent).toBe('Joining leaves your call in #demo.');
    await click('invite-cancel');
    expect(calls.filter((c) => c.cmd === 'answer_invite').map((c) => c.args)).toEqual([{ id: 7, accept: false }]);
    expect(cmds()).not.toContain('join');
    expect($('invite-dialog')).toBeNull();
  });

  it('follows tether-invite events; a failed join shows on the join screen', async () => {
    replies.answer_invite = () => {
      throw { code: 'CONNECT_FAILED', message: 'no server there' };
    };
    await mount();
    expect($('invite-dialog')).toBeNull();
    await act(async () => {
      await emit('tether-invite', { ...invite, foreignServer: false, server: null, leaves: null });
    });
    await settle();
    expect($('invite-server')?.textContent).toBe('Your usual server');
    expect($('invite-warning')).toBeNull();
    await click('invite-join');
    expect(calls.filter((c) => c.cmd === 'answer_invite').map((c) => c.args)).toEqual([{ id: 7, accept: true }]);
    expect($('join-error')?.textContent).toContain('no server there');
  });

  it('stores the choice to join own-server links without asking', async () => {
    await mount();
    await act(() => {
      ($('links-without-asking') as HTMLInputElement).click();
    });
    await settle();
    const saved = calls.filter((c) => c.cmd === 'set_settings').map((c) => c.args.settings as Settings);
    expect(saved.at(-1)?.joinLinksWithoutAsking).toBe(true);
  });
});

describe('listenEvent', () => {
  it('unlistens on cleanup, even before listen resolved', async () => {
    const got: unknown[] = [];
    const stop = listenEvent<number>('tether-event', (p) => got.push(p));
    stop(); // before the listen promise resolved
    await settle();
    await emit('tether-event', 1);
    const stop2 = listenEvent<number>('tether-event', (p) => got.push(p));
    await settle();
    await emit('tether-event', 2);
    stop2();
    await settle();
    await emit('tether-event', 3);
    expect(got).toEqual([2]);
    expect(calls.filter((c) => c.cmd === 'plugin:event|unlisten')).toHaveLength(0); // handled by the event mock
  });
});
