// Side effects: commands to the shell, with what each one dispatches. The
// components call these; the store only ever changes through actions.

import { commands, onTetherEvent, toIpcError, type Invite, type IpcError, type JoinArgs, type Settings } from './api';
import type { Store } from './store';
import type { VideoRouter } from './video/router';

export const RECENT_MAX = 10;

/** Newest first, no duplicates, at most RECENT_MAX. */
export function addRecent(recent: string[], channel: string): string[] {
  return [channel, ...recent.filter((c) => c !== channel)].slice(0, RECENT_MAX);
}

export interface Controller {
  start(): () => void;
  join(args: JoinArgs, settings: Settings | null): Promise<Settings | null>;
  /** Answers a link's invitation; a failed join shows on the join screen. */
  answerInvite(invite: Invite, accept: boolean): Promise<void>;
  rejoin(): Promise<void>;
  leave(): Promise<IpcError | null>;
  retryNow(): Promise<IpcError | null>;
  setMuted(audio: boolean, video: boolean): Promise<IpcError | null>;
  exportDiagnostics(): Promise<{ path: string } | { error: IpcError }>;
}

export function createController(store: Store, video: VideoRouter): Controller {
  const now = () => Date.now();

  async function syncState(): Promise<void> {
    try {
      const snapshot = await commands.getConnectionState();
      store.dispatch({ type: 'snapshot', snapshot, at: now() });
    } catch (e) {
      console.warn('get_connection_state failed', e);
    }
  }

  return {
    start() {
      const stopEvents = onTetherEvent((event) => {
        store.dispatch({ type: 'event', event });
        if (event.event === 'stream-removed' || event.event === 'peer-leave') video.drop(event.uid);
        if (event.event === 'connection-state-change' && event.curState === 'DISCONNECTED') video.dropPreview();
        // A join this window did not start (deep link): learn channel and uid.
        if (event.event === 'connection-state-change' && event.reason === 'JOIN' && store.get().me.uid === null) {
          void syncState();
        }
      });
      void syncState();
      commands.openVideo((buf) => video.push(buf)).catch((e: unknown) => {
        // Before the media pipeline lands the command does not exist: tiles show initials.
        console.info('open_video unavailable:', toIpcError(e).message);
      });
      const timer = setInterval(() => store.dispatch({ type: 'tick', now: now() }), 250);
      return () => {
        stopEvents();
        clearInterval(timer);
      };
    },

    async join(args, settings) {
      store.dispatch({ type: 'join-requested', args, at: now() });
      const save = async (next: Settings): Promise<Settings> => {
        try {
          return await commands.setSettings(next);
        } catch (e) {
          console.warn('set_settings failed', e);
          return next;
        }
      };
      // The shell's join falls back to the stored server when `server` is
      // null, so the choice (and the name) is stored before joining.
      let current = settings && (await save({ ...settings, displayName: args.name, server: args.server }));
      try {
        const joined = await commands.join(args);
        store.dispatch({ type: 'join-result', joined });
      } catch (e) {
        store.dispatch({ type: 'join-failed', error: toIpcError(e), at: now() });
        return current;
      }
      if (current) {
        current = await save({ ...current, recentChannels: addRecent(current.recentChannels, args.channel) });
        const mute = current.muteOnJoin;
        if (mute.audio || mute.video) {
          try {
            await commands.setMuted(mute.audio, mute.video);
            store.dispatch({ type: 'self-muted', muted: { ...mute } });
            if (mute.video) video.dropPreview();
          } catch (e) {
            console.warn('set_muted failed', e);
          }
        }
      }
      return current;
    },

    async answerInvite(invite, accept) {
      try {
        const joined = await commands.answerInvite(invite.id, accept);
        // The snapshot opens the call screen (as for a join this window did
        // not start), whichever of it and the JOIN event comes first.
        if (joined) await syncState();
      } catch (e) {
        const error = toIpcError(e);
        // A newer link replaced this one: its own dialog is up already.
        if (error.code !== 'NO_INVITE') store.dispatch({ type: 'join-failed', error, at: now() });
      }
    },

    async rejoin() {
      const last = store.get().lastJoin;
      if (!last) {
        store.dispatch({ type: 'back-to-join' });
        return;
      }
      await this.join(last, null);
    },

    async leave() {
      try {
        await commands.leave();
        return null;
      } catch (e) {
        const err = toIpcError(e);
        // Nothing to leave: the session already ended; just go back.
        if (err.code === 'NOT_JOINED') {
          store.dispatch({ type: 'back-to-join' });
          return null;
        }
        return err;
      }
    },

    async retryNow() {
      try {
        await commands.retryNow();
        return null;
      } catch (e) {
        return toIpcError(e);
      }
    },

    async setMuted(audio, camOff) {
      try {
        await commands.setMuted(audio, camOff);
        store.dispatch({ type: 'self-muted', muted: { audio, video: camOff } });
        // Camera off: no stale self-view when it comes back on.
        if (camOff) video.dropPreview();
        return null;
      } catch (e) {
        return toIpcError(e);
      }
    },

    async exportDiagnostics() {
      try {
        return { path: await commands.exportDiagnostics() };
      } catch (e) {
        return { error: toIpcError(e) };
      }
    },
  };
}
