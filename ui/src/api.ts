// The one door between the UI and the Rust shell: every command, the event
// listener helper, and the IPC types. Nothing else in ui/src imports
// @tauri-apps/api or the type definitions directly, so switching from the
// hand-written ipc-types.ts to the generated bindings.ts changes this file only.

import { Channel, invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';

import type {
  ConnectionSnapshot,
  DeviceKind,
  DeviceList,
  IpcError,
  JoinArgs,
  Joined,
  Settings,
  TetherEvent,
} from './ipc-types';
import { TETHER_EVENT } from './ipc-types';

export type * from './ipc-types';
export { TETHER_EVENT } from './ipc-types';

/** Turns whatever a rejected invoke carries into `{ code, message }`. */
export function toIpcError(e: unknown): IpcError {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    const { code, message } = e as { code: unknown; message: unknown };
    return { code: String(code), message: String(message) };
  }
  if (e instanceof Error) return { code: 'UNKNOWN', message: e.message };
  return { code: 'UNKNOWN', message: String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

/** Commands of docs/ipc.md. Each rejects with an IpcError. */
export const commands = {
  join: (args: JoinArgs) => call<Joined>('join', { ...args }),
  leave: () => call<null>('leave'),
  getConnectionState: () => call<ConnectionSnapshot>('get_connection_state'),
  setMuted: (audio: boolean, video: boolean) => call<null>('set_muted', { audio, video }),
  listDevices: () => call<DeviceList>('list_devices'),
  selectDevice: (kind: DeviceKind, id: string | null) => call<null>('select_device', { kind, id }),
  retryNow: () => call<null>('retry_now'),
  exportDiagnostics: () => call<string>('export_diagnostics'),
  getSettings: () => call<Settings>('get_settings'),
  setSettings: (settings: Settings) => call<Settings>('set_settings', { settings }),
  /**
   * Opens the binary video stream (docs/ipc.md "Video"): every decoded remote
   * frame arrives as one ArrayBuffer. Resolves once the shell accepted the
   * channel; rejects (e.g. before the media pipeline exists) with an IpcError.
   */
  openVideo: (onFrame: (frame: ArrayBuffer) => void) => {
    const channel = new Channel<ArrayBuffer>();
    channel.onmessage = onFrame;
    return call<null>('open_video', { onFrame: channel });
  },
};

/**
 * Listens to a Tauri event and returns a synchronous cleanup that unlistens,
 * even when it runs before `listen` has resolved (a component unmounted
 * early): the one way the UI subscribes to the shell.
 */
export function listenEvent<T>(name: string, handler: (payload: T) => void): () => void {
  let stopped = false;
  let unlisten: (() => void) | undefined;
  listen<T>(name, (e) => {
    if (!stopped) handler(e.payload);
  }).then(
    (fn) => {
      if (stopped) void fn();
      else unlisten = fn;
    },
    (err: unknown) => console.error(`listen(${name}) failed`, err),
  );
  return () => {
    stopped = true;
    unlisten?.();
    unlisten = undefined;
  };
}

/** Every `tether-event` payload, in order. */
export function onTetherEvent(handler: (event: TetherEvent) => void): () => void {
  return listenEvent<TetherEvent>(TETHER_EVENT, handler);
}
