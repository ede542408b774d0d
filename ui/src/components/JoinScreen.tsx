import { useEffect, useState } from 'preact/hooks';

import type { Device, DeviceKind, DeviceList, IpcError, JoinArgs, Settings } from '../api';
import { validateChannel, validateDisplayName, validateServer } from '../model/validate';

export interface JoinScreenProps {
  /** Channel to start with (the last session's), if any. */
  channelHint: string | null;
  settings: Settings | null;
  devices: DeviceList | null;
  devicesError: IpcError | null;
  joinError: IpcError | null;
  busy: boolean;
  onJoin: (args: JoinArgs, settings: Settings | null) => void;
  onDevice: (kind: DeviceKind, id: string | null) => Promise<IpcError | null>;
  onMuteOnJoin: (m: { audio: boolean; video: boolean }) => void;
  onJoinLinksWithoutAsking: (yes: boolean) => void;
}

export function JoinScreen(p: JoinScreenProps) {
  const [channel, setChannel] = useState(p.channelHint ?? '');
  const [name, setName] = useState('');
  const [custom, setCustom] = useState(false);
  const [server, setServer] = useState('');
  const [touched, setTouched] = useState({ channel: false, name: false, server: false });
  const [submitted, setSubmitted] = useState(false);
  const [deviceError, setDeviceError] = useState<IpcError | null>(null);
  const [loaded, setLoaded] = useState(false);

  // Fill the form from the stored settings once they arrive.
  useEffect(() => {
    if (!p.settings || loaded) return;
    setLoaded(true);
    if (!name) setName(p.settings.displayName);
    if (p.settings.server !== null) {
      setCustom(true);
      setServer(p.settings.server);
    }
  }, [p.settings, loaded, name]);

  const channelError = validateChannel(channel);
  const nameError = validateDisplayName(name);
  const serverError = custom ? validateServer(server) : null;
  const show = (field: keyof typeof touched) => submitted || touched[field];
  const blur = (field: keyof typeof touched) => () => setTouched((t) => ({ ...t, [field]: true }));

  const submit = (e: Event) => {
    e.preventDefault();
    setSubmitted(true);
    if (channelError || nameError || serverError || p.busy) return;
    p.onJoin({ channel, name: name.trim(), server: custom ? server.trim() : null, token: null }, p.settings);
  };

  const pick = (kind: DeviceKind) => async (e: Event) => {
    const v = (e.currentTarget as HTMLSelectElement).value;
    setDeviceError(await p.onDevice(kind, v === '' ? null : v));
  };

  const recent = p.settings?.recentChannels ?? [];
  const mute = p.settings?.muteOnJoin ?? { audio: false, video: false };
  return (
    <main class="join" aria-labelledby="join-title">
      <form class="join-form" onSubmit={submit} noValidate data-testid="join-form">
        <h1 id="join-title">Join a channel</h1>

        <div class="field">
          <label for="channel">Channel</label>
          <input
            id="channel"
            data-testid="channel-input"
            value={channel}
            autoComplete="off"
            spellcheck={false}
            aria-invalid={show('channel') && channelError ? 'true' : 'false'}
            aria-describedby="channel-hint channel-error"
            onInput={(e) => setChannel(e.currentTarget.value)}
            onBlur={blur('channel')}
          />
          <p id="channel-hint" class="hint">
            1–64 characters: letters, digits, and _ - .
          </p>
          <p id="channel-error" class="field-error" data-testid="channel-error" aria-live="polite">
            {show('channel') && channelError ? channelError : ''}
          </p>
          {recent.length > 0 && (
            <div class="recent">
              <span id="recent-label">Recent:</span>
              <ul aria-labelledby="recent-label" data-testid="recent-channels">
                {recent.map((c) => (
                  <li key={c}>
                    <button type="button" class="chip" onClick={() => setChannel(c)} data-testid={`recent-${c}`}>
                      {c}
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>

        <div class="field">
          <label for="display-name">Your name</label>
          <input
            id="display-name"
            data-testid="name-input"
            value={name}
            autoComplete="nickname"
            aria-invalid={show('name') && nameError ? 'true' : 'false'}
            aria-describedby="name-error"
            onInput={(e) => setName(e.currentTarget.value)}
            onBlur={blur('name')}
          />
          <p id="name-error" class="field-error" data-testid="name-error" aria-live="polite">
            {show('name') && nameError ? nameError : ''}
          </p>
        </div>

        <fieldset class="field">
          <legend>Server</legend>
          <label class="radio">
            <input
              type="radio"
              name="server"
              data-testid="server-builtin"
              checked={!custom}
              onChange={() => setCustom(false)}
            />
            Built-in local server
          </label>
          <label class="radio">
            <input
              type="radio"
              name="server"
              data-testid="server-custom"
              checked={custom}
              onChange={() => setCustom(true)}
            />
            Another server
          </label>
          {custom && (
            <>
              <input
                aria-label="Server address"
                data-testid="server-input"
                placeholder="ws://192.168.1.20:7800"
                value={server}
                aria-invalid={show('server') && serverError ? 'true' : 'false'}
                aria-describedby="server-error"
                onInput={(e) => setServer(e.currentTarget.value)}
                onBlur={blur('server')}
              />
              <p id="server-error" class="field-error" data-testid="server-error" aria-live="polite">
                {show('server') && serverError ? serverError : ''}
              </p>
            </>
          )}
        </fieldset>

        <div class="devices">
          <DevicePicker
            label="Camera"
            testid="camera-select"
            devices={p.devices?.videoInputs}
            value={p.settings?.videoInput ?? null}
            onChange={pick('videoInput')}
          />
          <DevicePicker
            label="Microphone"
            testid="mic-select"
            devices={p.devices?.audioInputs}
            value={p.settings?.audioInput ?? null}
            onChange={pick('audioInput')}
          />
          <DevicePicker
            label="Speaker"
            testid="speaker-select"
            devices={p.devices?.audioOutputs}
            value={p.settings?.audioOutput ?? null}
            onChange={pick('audioOutput')}
          />
        </div>
        {(deviceError || p.devicesError) && (
          <p class="field-error" role="alert" data-testid="device-error">
            {describe((deviceError ?? p.devicesError) as IpcError)}
          </p>
        )}

        <fieldset class="field mute-on-join">
          <legend>When I join</legend>
          <label class="check">
            <input
              type="checkbox"
              data-testid="mute-audio-on-join"
              checked={mute.audio}
              onChange={(e) => p.onMuteOnJoin({ ...mute, audio: e.currentTarget.checked })}
            />
            Microphone off
          </label>
          <label class="check">
            <input
              type="checkbox"
              data-testid="mute-video-on-join"
              checked={mute.video}
              onChange={(e) => p.onMuteOnJoin({ ...mute, video: e.currentTarget.checked })}
            />
            Camera off
          </label>
          <label class="check wide">
            <input
              type="checkbox"
              data-testid="links-without-asking"
              checked={p.settings?.joinLinksWithoutAsking ?? false}
              onChange={(e) => p.onJoinLinksWithoutAsking(e.currentTarget.checked)}
            />
            Join links to my own server without asking
          </label>
        </fieldset>

        <button type="submit" class="primary join-button" data-testid="join-button" disabled={p.busy}>
          {p.busy ? 'Joining…' : 'Join'}
        </button>
        <div class="join-error-region" role="alert" data-testid="join-error-region">
          {p.joinError && (
            <p class="join-error" data-testid="join-error">
              <strong>Could not join:</strong> {p.joinError.message} <code>{p.joinError.code}</code>
            </p>
          )}
        </div>
      </form>
    </main>
  );
}

function describe(e: IpcError): string {
  return `${e.message} (${e.code})`;
}

interface PickerProps {
  label: string;
  testid: string;
  devices: Device[] | undefined;
  value: string | null;
  onChange: (e: Event) => void;
}

function DevicePicker({ label, testid, devices, value, onChange }: PickerProps) {
  const id = `${testid}-el`;
  const known = devices ?? [];
  const missing = value !== null && devices !== undefined && !known.some((d) => d.id === value);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} data-testid={testid} value={value ?? ''} onChange={onChange} disabled={devices === undefined}>
        <option value="">{known.length === 0 && devices !== undefined ? `No ${label.toLowerCase()} found` : 'System default'}</option>
        {known.map((d) => (
          <option key={d.id} value={d.id}>
            {d.isDefault ? `${d.name} (default)` : d.name}
          </option>
        ))}
        {missing && <option value={value}>{`${value} (not connected)`}</option>}
      </select>
    </div>
  );
}
