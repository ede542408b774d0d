import { describe, expect, it } from 'vitest';

import { validateChannel, validateDisplayName, validateServer } from './validate';

describe('channel names', () => {
  it('accepts 1–64 of A–Z a–z 0–9 _ - .', () => {
    for (const ok of ['a', 'demo', 'Team_1-a.b', 'x'.repeat(64), '...', '0']) {
      expect(validateChannel(ok), ok).toBeNull();
    }
  });

  it('says what is wrong', () => {
    expect(validateChannel('')).toBe('Enter a channel name.');
    expect(validateChannel('x'.repeat(65))).toBe('A channel name has at most 64 characters (this one has 65).');
    expect(validateChannel('my room')).toBe('Use only letters A–Z a–z, digits 0–9, and _ - . (not space).');
    expect(validateChannel('a/b#c/')).toBe('Use only letters A–Z a–z, digits 0–9, and _ - . (not “/”, “#”).');
    expect(validateChannel('café')).toMatch(/not “é”/);
  });
});

describe('other fields', () => {
  it('display names are non-empty and short', () => {
    expect(validateDisplayName('  ')).toBe('Enter the name others will see.');
    expect(validateDisplayName('Ann')).toBeNull();
    expect(validateDisplayName('x'.repeat(65))).toMatch(/at most 64/);
    expect(validateDisplayName('😀'.repeat(64))).toBeNull(); // characters, not UTF-16 units
    expect(validateDisplayName('a\tb')).toMatch(/control characters/);
  });

  it('names cannot hide text-direction or invisible characters', () => {
    expect(validateDisplayName('Ann\u202eeve')).toMatch(/text-direction/);
    expect(validateDisplayName('A\u200bnn')).toMatch(/invisible/);
    expect(validateDisplayName('A\ufeffnn')).toMatch(/invisible/);
    expect(validateDisplayName('Zoë 李')).toBeNull();
  });

  it('servers are ws:// URLs; wss:// is refused until TLS lands', () => {
    expect(validateServer('ws://127.0.0.1:7800')).toBeNull();
    expect(validateServer('wss://tether.example/')).toMatch(/not supported yet/);
    expect(validateServer('http://x')).toMatch(/must start with ws:\/\//);
    expect(validateServer('localhost:7800')).not.toBeNull();
    expect(validateServer('')).toMatch(/Enter the server address/);
  });
});
