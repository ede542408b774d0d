import { useEffect, useRef } from 'preact/hooks';

import type { Invite } from '../api';

export interface InviteDialogProps {
  invite: Invite;
  busy: boolean;
  onAnswer: (accept: boolean) => void;
}

/**
 * A link (tether://join/…) asks before anything connects or captures: which
 * channel, on which server, under which name, and which call it would leave.
 * A link naming a server the user never chose says what that means.
 */
export function InviteDialog({ invite, busy, onAnswer }: InviteDialogProps) {
  const cancel = useRef<HTMLButtonElement>(null);
  // Focus the safe answer, so Enter on a surprise dialog does not join.
  useEffect(() => cancel.current?.focus(), [invite.id]);

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !busy) onAnswer(false);
  };
  return (
    <div class="modal-backdrop" onKeyDown={onKey}>
      <section
        class={`modal invite${invite.foreignServer ? ' foreign' : ''}`}
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="invite-title"
        aria-describedby="invite-details"
        data-testid="invite-dialog"
      >
        <h2 id="invite-title">Join #{invite.channel}?</h2>
        <dl id="invite-details" class="invite-details">
          <dt>Channel</dt>
          <dd data-testid="invite-channel">{invite.channel}</dd>
          <dt>Server</dt>
          <dd data-testid="invite-server">
            {invite.server === null ? 'Your usual server' : <code>{invite.server}</code>}
          </dd>
          <dt>Your name</dt>
          <dd data-testid="invite-name">{invite.name}</dd>
        </dl>
        {invite.foreignServer && (
          <p class="invite-warning" role="note" data-testid="invite-warning">
            This link names a server you have not chosen. If you join, your camera and microphone go to{' '}
            <code>{invite.server}</code>. Join only if you trust who sent you the link.
          </p>
        )}
        {invite.leaves !== null && (
          <p class="invite-leaves" data-testid="invite-leaves">
            Joining leaves your call in #{invite.leaves}.
          </p>
        )}
        <div class="modal-actions">
          <button type="button" ref={cancel} data-testid="invite-cancel" disabled={busy} onClick={() => onAnswer(false)}>
            Cancel
          </button>
          <button type="button" class="primary" data-testid="invite-join" disabled={busy} onClick={() => onAnswer(true)}>
            {busy ? 'Joining…' : 'Join'}
          </button>
        </div>
      </section>
    </div>
  );
}
