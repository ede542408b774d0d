import { describe, expect, it } from 'vitest';

import { formatDuration, formatRelative, secondsUntil } from './time';

describe('countdown arithmetic', () => {
  it('rounds up to whole seconds and never goes below zero', () => {
    const now = 1_000_000;
    expect(secondsUntil(now + 5_000, now)).toBe(5);
    expect(secondsUntil(now + 4_001, now)).toBe(5);
    expect(secondsUntil(now + 4_000, now)).toBe(4);
    expect(secondsUntil(now + 1, now)).toBe(1);
    expect(secondsUntil(now, now)).toBe(0);
    expect(secondsUntil(now - 3_000, now)).toBe(0);
  });

  it('counts down by one each second', () => {
    const target = 50_000;
    const seen = [0, 1_000, 2_000, 3_000, 4_000, 5_000].map((t) => secondsUntil(target, 45_000 + t));
    expect(seen).toEqual([5, 4, 3, 2, 1, 0]);
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(59)).toBe('59 s');
    expect(formatDuration(60)).toBe('1 min 00 s');
    expect(formatDuration(19 * 60 + 57)).toBe('19 min 57 s');
    expect(formatDuration(3_600)).toBe('1 h 00 min');
    expect(formatDuration(3_600 + 125)).toBe('1 h 02 min');
    expect(formatDuration(-4)).toBe('0 s');
  });

  it('formats timeline offsets from T0', () => {
    expect(formatRelative(0)).toBe('+0:00.000');
    expect(formatRelative(12_345)).toBe('+0:12.345');
    expect(formatRelative(20 * 60_000 + 1_002)).toBe('+20:01.002');
    expect(formatRelative(-120)).toBe('-0:00.120');
  });
});
