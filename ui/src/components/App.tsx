import { useEffect, useState } from 'preact/hooks';

import { commands, onInvite, toIpcError, type DeviceList, type Invite, type IpcError, type Settings } from '../api';
import type { Controller } from '../controller';
import { type Store, useStore } from '../store';
import type { VideoRouter } from '../video/router';
import { CallScreen } from './CallScreen';
import { ConnectionBadge } from './ConnectionBadge';
import { InviteDialog } from './InviteDialog';
import { JoinScreen } from './JoinScreen';

export interface AppProps {
  store: Store;
  ctl: Controller;
  video: VideoRouter;
}

export function App({ store, ctl, video }: AppProps) {
  const s = useStore(store);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [devices, setDevices] = useState<DeviceList | null>(null);
  const [devicesError, setDevicesError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);
  const [invite, setInvite] = useState<Invite | null>(null);
  const [answering, setAnswering] = useState(false);

  useEffect(() => ctl.start(), [ctl]);
  useEffect(() => {
    commands.getSettings().then(setSettings, (e: unknown) => console.warn('get_settings failed', e));
    commands.listDevices().then(setDevices, (e: unknown) => setDevicesError(toIpcError(e)));
  }, []);
  // A link opened before this window listened (at start) is still pending.
  useEffect(() => {
    let seen = false;
    const stop = onInvite((next) => {
      seen = true;
      setInvite(next);
    });
    commands.getInvite().then(
      (pending) => {
        if (!seen) setInvite(pending);
      },
      (e: unknown) => console.warn('get_invite failed', e),
    );
    return stop;
  }, []);

  const answer = async (accept: boolean) => {
    if (!invite) return;
    setAnswering(true);
    await ctl.answerInvite(invite, accept);
    setAnswering(false);
    setInvite((current) => (current?.id === invite.id ? null : current));
  };

  const save = async (next: Settings) => {
    setSettings(next);
    try {
      setSettings(await commands.setSettings(next));
    } catch (e) {
      console.warn('set_settings failed', e);
    }
  };

  return (
    <div class="app">
      <header class="app-header">
        <span class="brand">Tether</span>
        {s.screen === 'call' && s.channel && (
          <span class="channel" data-testid="channel-name">
            # {s.channel}
          </span>
        )}
        <ConnectionBadge state={s} />
      </header>
      {s.screen === 'join' ? (
        <JoinScreen
          channelHint={s.channel}
          settings={settings}
          devices={devices}
          devicesError={devicesError}
          joinError={s.joinError}
          busy={busy}
          onJoin={async (args, current) => {
            setBusy(true);
            const saved = await ctl.join(args, current);
            setBusy(false);
            if (saved) setSettings(saved);
          }}
          onDevice={async (kind, id) => {
            try {
              await commands.selectDevice(kind, id);
            } catch (e) {
              return toIpcError(e);
            }
            if (settings) await save({ ...settings, [kind]: id });
            return null;
          }}
          onMuteOnJoin={(muteOnJoin) => {
            if (settings) void save({ ...settings, muteOnJoin });
          }}
          onJoinLinksWithoutAsking={(joinLinksWithoutAsking) => {
            if (settings) void save({ ...settings, joinLinksWithoutAsking });
          }}
        />
      ) : (
        <CallScreen state={s} store={store} ctl={ctl} video={video} />
      )}
      {invite && <InviteDialog invite={invite} busy={answering} onAnswer={(accept) => void answer(accept)} />}
    </div>
  );
}
