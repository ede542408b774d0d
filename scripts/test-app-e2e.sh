#!/usr/bin/env bash
# The real desktop app end to end (e2e/app_e2e.py): builds the web UI and an
# app binary with the UI embedded (`custom-protocol`; a plain debug build would
# load the Vite dev server), copies it to target/e2e/tether-app, then drives it
# under Xvfb through tauri-driver + WebKitWebDriver. Needs root (network
# namespaces). Screenshots and figures: test-artifacts/app/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if [ ! -d ui/node_modules ]; then
    (cd ui && npm ci --no-audit --no-fund)
fi
npm --prefix ui run build
cargo build -p tether-cli --bin tether
cargo build -p tether-app --features custom-protocol
mkdir -p target/e2e
cp target/debug/tether-app target/e2e/tether-app
exec python3 e2e/app_e2e.py
