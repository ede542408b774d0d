// Small inline SVG icons (markup only: allowed by the CSP).

export function MicOffIcon() {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" class="icon">
      <path d="M12 3a3 3 0 0 0-3 3v5a3 3 0 0 0 5.2 2.05M15 9.5V6a3 3 0 0 0-5.7-1.3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
      <path d="M5 11a7 7 0 0 0 11.3 5.5M19 11a7 7 0 0 1-.7 3M12 18v3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
      <path d="M4 4l16 16" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

export function MicIcon() {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" class="icon">
      <rect x="9" y="3" width="6" height="11" rx="3" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="M5 11a7 7 0 0 0 14 0M12 18v3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

export function CamOffIcon() {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" class="icon">
      <path d="M3 7h9a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM14 10l6-3v10l-6-3" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />
      <path d="M3 3l18 18" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

export function CamIcon() {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" class="icon">
      <path d="M3 7h9a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM14 10l6-3v10l-6-3" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />
    </svg>
  );
}

export function PersonIcon() {
  return (
    <svg viewBox="0 0 24 24" width="50%" height="50%" aria-hidden="true" class="icon">
      <circle cx="12" cy="8" r="4" fill="currentColor" />
      <path d="M4 21a8 8 0 0 1 16 0z" fill="currentColor" />
    </svg>
  );
}
