// Input checks done before anything is sent to the shell. They mirror the
// server's rules (tether-proto) so a bad name gets a clear message at once.

export const CHANNEL_MAX = 64;
const CHANNEL_RE = /^[A-Za-z0-9_.-]+$/;

/** null when valid, otherwise a message for the person typing. */
export function validateChannel(raw: string): string | null {
  if (raw.length === 0) return 'Enter a channel name.';
  if (raw.length > CHANNEL_MAX) {
    return `A channel name has at most ${CHANNEL_MAX} characters (this one has ${raw.length}).`;
  }
  if (!CHANNEL_RE.test(raw)) {
    const bad = [...new Set([...raw].filter((c) => !CHANNEL_RE.test(c)))];
    const shown = bad.map((c) => (c === ' ' ? 'space' : `“${c}”`)).join(', ');
    return `Use only letters A–Z a–z, digits 0–9, and _ - . (not ${shown}).`;
  }
  return null;
}

export const NAME_MAX = 64;

export function validateDisplayName(raw: string): string | null {
  const name = raw.trim();
  if (name.length === 0) return 'Enter the name others will see.';
  if ([...name].length > NAME_MAX) return `A display name has at most ${NAME_MAX} characters.`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'A display name cannot contain control characters.';
  if (/[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/.test(name)) {
    return 'A display name cannot contain invisible or text-direction characters.';
  }
  return null;
}

/**
 * A custom server must be a ws:// URL. wss:// (TLS) is refused until the
 * client can speak it, rather than failing later at dial time.
 */
export function validateServer(raw: string): string | null {
  const s = raw.trim();
  if (s.length === 0) return 'Enter the server address, e.g. ws://192.168.1.20:7800.';
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'Enter a full address starting with ws://.';
  }
  if (url.protocol === 'wss:') {
    return 'wss:// (TLS) is not supported yet: use a ws:// address on a network you trust.';
  }
  if (url.protocol !== 'ws:') {
    return 'The server address must start with ws://.';
  }
  return null;
}
