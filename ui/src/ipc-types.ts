// Hand-written mirror of docs/ipc.md, used until src-tauri generates
// ui/src/bindings.ts (tauri-specta). Only src/api.ts imports this file: the
// rest of the UI imports its IPC types from there, so switching to the
// generated bindings is a change to api.ts alone.

/** Every command fails with this shape; codes are SCREAMING_SNAKE_CASE. */
export interface IpcError {
  code: string;
  message: string;
}

export type ConnectionState = 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'DISCONNECTING';

export type StateReason =
  | 'JOIN'
  | 'JOIN_SUCCESS'
  | 'RECONNECT_SUCCESS'
  | 'INTERRUPTED'
  | 'LEAVE'
  | 'JOIN_FAILED'
  | 'GAVE_UP'
  | 'TOKEN_EXPIRED'
  | 'INVALID_TOKEN'
  | 'KICKED'
  | 'UID_CONFLICT'
  | 'CHANNEL_CLOSED'
  | 'SERVER_REJECTED';

export type InterruptCause =
  | 'KEEPALIVE_TIMEOUT'
  | 'SOCKET_CLOSED'
  | 'ICE_FAILED'
  | 'NETWORK_CHANGED'
  | 'SERVER_RESTART'
  | 'SYSTEM_WAKE';

export type ReconnectMode = 'RESUME' | 'REJOIN';
export type ConnectMode = 'JOIN' | 'RESUME' | 'REJOIN';
export type PeerLeaveReason = 'QUIT' | 'SERVER_TIMEOUT' | 'KICKED';
export type StreamRemovedReason = 'UNPUBLISHED' | 'NO_DATA' | 'PEER_LEFT';

export interface Device {
  id: string;
  name: string;
}

export interface DeviceList {
  audioInputs: Device[];
  audioOutputs: Device[];
  videoInputs: Device[];
}

export type DeviceKind = 'audioInput' | 'audioOutput' | 'videoInput';

export interface Settings {
  displayName: string;
  server: string | null;
  /** Newest first, at most 10. */
  recentChannels: string[];
  audioInput: string | null;
  audioOutput: string | null;
  videoInput: string | null;
  muteOnJoin: { audio: boolean; video: boolean };
}

export interface JoinArgs {
  channel: string;
  name: string;
  /** null = the built-in (embedded) server. */
  server: string | null;
  token: string | null;
}

export interface Joined {
  channel: string;
  uid: number;
  /** The URL actually used. */
  server: string;
}

export interface ConnectionSnapshot {
  state: ConnectionState;
  channel: string | null;
  uid: number | null;
}

export interface StateDetail {
  cause?: InterruptCause;
  attempt?: number;
  mode?: ReconnectMode;
  /** Unix ms. */
  nextAt?: number;
  /** Unix ms. */
  giveUpAt?: number;
  message?: string;
}

/** The payload of the one Tauri event, `tether-event`: a CLI JSON line. */
export type TetherEvent = { ts: number } & (
  | {
      event: 'connection-state-change';
      prevState: ConnectionState;
      curState: ConnectionState;
      reason: StateReason;
      detail: StateDetail;
    }
  | { event: 'connected'; mode: ConnectMode; sessionId: string }
  | { event: 'reconnect-attempt'; attempt: number; mode: ReconnectMode; nextAt: number; giveUpAt: number }
  | { event: 'peer-online'; uid: number; name: string }
  | { event: 'peer-leave'; uid: number; reason: PeerLeaveReason }
  | { event: 'peer-reconnecting'; uid: number }
  | { event: 'peer-reconnected'; uid: number }
  | { event: 'stream-added'; uid: number; audio: boolean; video: boolean }
  | { event: 'stream-removed'; uid: number; reason: StreamRemovedReason }
  | { event: 'stream-subscribed'; uid: number }
  | { event: 'mute-changed'; uid: number; audio: boolean; video: boolean }
  | { event: 'network-quality'; uid: number | null; uplink: number; downlink: number }
  | { event: 'volume-indicator'; levels: { uid: number; level: number }[] }
  | { event: 'token-privilege-will-expire'; expiresAt: number }
  | { event: 'token-privilege-did-expire' }
  | { event: 'exception'; code: string; message: string }
);

export type TetherEventName = TetherEvent['event'];

/** The Tauri event name every TetherEvent arrives on. */
export const TETHER_EVENT = 'tether-event';
