// Countdown and duration arithmetic, pure so it is unit-tested.

/** Whole seconds from `now` until `target` (Unix ms), rounded up, never below 0. */
export function secondsUntil(target: number, now: number): number {
  return Math.max(0, Math.ceil((target - now) / 1000));
}

/** "42 s", "3 min 07 s", "1 h 02 min". */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${String(sec).padStart(2, '0')} s`;
}

/** Time since T0 for the timeline: "+0:12.345", "+20:01.002", "-0:00.120". */
export function formatRelative(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(Math.round(ms));
  const min = Math.floor(abs / 60000);
  const sec = Math.floor((abs % 60000) / 1000);
  const milli = abs % 1000;
  return `${sign}${min}:${String(sec).padStart(2, '0')}.${String(milli).padStart(3, '0')}`;
}

/** Wall-clock time of day for tooltips: "14:03:07.250". */
export function formatClock(ts: number): string {
  const d = new Date(ts);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
