import { useEffect, useRef, useState } from 'preact/hooks';

import type { TimelineEntry } from '../model/session';
import { formatClock, formatRelative } from '../model/time';

export interface TimelineProps {
  entries: TimelineEntry[];
  t0: number | null;
  onExport: () => Promise<{ path: string } | { error: { code: string; message: string } }>;
}

/** Every state change and peer/stream event, with its time since T0 (join). */
export function Timeline({ entries, t0, onExport }: TimelineProps) {
  const list = useRef<HTMLOListElement>(null);
  const pinned = useRef(true);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const el = list.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [entries.length]);

  const base = t0 ?? entries[0]?.ts ?? 0;
  return (
    <aside class="timeline" aria-labelledby="timeline-title" data-testid="timeline-panel">
      <div class="timeline-head">
        <h2 id="timeline-title">Timeline</h2>
        <button
          type="button"
          data-testid="export-diagnostics"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            const r = await onExport();
            setBusy(false);
            setResult(
              'path' in r
                ? { ok: true, text: `Diagnostics saved to ${r.path}` }
                : { ok: false, text: `Export failed: ${r.error.message} (${r.error.code})` },
            );
          }}
        >
          Export diagnostics
        </button>
      </div>
      <p class={`export-result${result && !result.ok ? ' error' : ''}`} role="status" data-testid="export-result">
        {result?.text ?? ''}
      </p>
      <ol
        ref={list}
        class="timeline-list"
        data-testid="timeline"
        tabIndex={0}
        aria-label="Session events, oldest first"
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {entries.map((e, i) => (
          <li key={i} class={`tl-${e.kind}`} data-event={e.event}>
            <time class="tl-time" dateTime={new Date(e.ts).toISOString()} title={formatClock(e.ts)}>
              {formatRelative(e.ts - base)}
            </time>
            <span class="tl-text">{e.text}</span>
          </li>
        ))}
      </ol>
    </aside>
  );
}
