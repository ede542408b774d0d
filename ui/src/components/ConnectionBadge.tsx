import type { AppState } from '../model/session';
import { connectionBadge } from '../model/view';

/** The always-visible connection state. */
export function ConnectionBadge({ state }: { state: AppState }) {
  const b = connectionBadge(state);
  return (
    <span
      class={`conn-badge conn-${b.state.toLowerCase()}`}
      data-testid="connection-badge"
      data-state={b.state}
      title={`Connection: ${b.text}`}
    >
      <span class="dot" aria-hidden="true" />
      <span class="sr-only">Connection: </span>
      {b.text}
    </span>
  );
}
