#!/usr/bin/env bash
# The main job: build the web UI and the desktop app (UI embedded, the
# `custom-protocol` feature), and start it. With no server configured the app
# serves ws://127.0.0.1:7800 itself, so a second window
# (`TETHER_INSTANCE=2 scripts/run.sh`) or a headless client
# (`target/debug/tether join --server ws://127.0.0.1:7800 --channel demo --publish`)
# meets it with no setup. Arguments go to the app, e.g. a deep link:
#
#   scripts/run.sh 'tether://join/demo?name=Ann'
#
# Without a display (no DISPLAY or WAYLAND_DISPLAY) it says how to run it
# under Xvfb instead of failing obscurely.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if [ ! -d ui/node_modules ]; then
    echo "==> installing the web UI's packages (npm ci)"
    (cd ui && npm ci --no-audit --no-fund)
fi
echo "==> building the web UI (ui/dist)"
npm --prefix ui run build
echo "==> building the desktop app with the UI embedded"
cargo build -p tether-app --features custom-protocol -p tether-cli

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    cat >&2 <<'MSG'
run.sh: no display (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.
  On a headless machine run it under a virtual X server:
      xvfb-run -a scripts/run.sh 'tether://join/demo?name=Ann'
  (apt-get install xvfb xauth; scripts/setup.sh installs them), or use the
  headless demo: scripts/demo-cli.sh
MSG
    exit 2
fi
echo "==> starting target/debug/tether-app $* (built-in server ws://127.0.0.1:${TETHER_EMBEDDED_PORT:-7800})"
exec target/debug/tether-app "$@"
