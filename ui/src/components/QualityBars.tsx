import { qualityBars, qualityText } from '../model/labels';
import type { Quality } from '../model/session';

/** Five bars for network quality 0..6; the worse of uplink and downlink. */
export function QualityBars({ quality, testid }: { quality: Quality; testid: string }) {
  const q = Math.max(quality.uplink, quality.downlink);
  const lit = qualityBars(q);
  const label = `Network ${qualityText(q)}` + (q > 0 ? ` (up ${quality.uplink}, down ${quality.downlink})` : '');
  return (
    <span class={`bars q${q}`} role="img" aria-label={label} title={label} data-testid={testid} data-quality={q}>
      {[1, 2, 3, 4, 5].map((i) => (
        <span key={i} class={i <= lit ? 'bar lit' : 'bar'} />
      ))}
    </span>
  );
}
