#!/usr/bin/env bash
# The whole test suite: formatting, lints, build, then every test (unit,
# property, and the end-to-end scenarios in tests/, which need root for
# network namespaces; under CI=true they fail rather than skip without it).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

step() { printf '\n==> %s\n' "$*"; }

# A full run needs about 10 GiB of disk (debug and release builds, the
# AddressSanitizer fuzz build, the app bundle); say how much there is, so a
# "No space left on device" later is easy to read.
step "disk space (a full run writes about 10 GiB under target/ and fuzz/target/)"
df -h . || true

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build (binaries used by the end-to-end tests)"
cargo build --workspace --bins

step "doc tests"
cargo test --workspace --doc

if [ -f ui/package.json ]; then
    step "web UI: typecheck, unit tests, Chromium end-to-end tests"
    if [ ! -d ui/node_modules ]; then
        (cd ui && npm ci --no-audit --no-fund)
    fi
    (cd ui && npm run --silent typecheck && npm test --silent && npm run --silent test:e2e)
fi

# Network namespaces left by a test run that was killed outright (tests delete
# their own; names are tether-<slot>-s / tether-<slot>-c).
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1; then
    ip netns list 2>/dev/null | awk '$1 ~ /^tether-[0-9]+-[sc]$/ {print $1}' | while read -r ns; do
        echo "test.sh: deleting stale network namespace $ns"
        ip netns del "$ns" || true
    done
fi

step "cargo nextest run"
# Profile in .config/nextest.toml: slow tests time out instead of hanging, no retries.
cargo nextest run --workspace --no-fail-fast "$@"

step "quick benchmarks (tether-bench --quick; report: target/tether-bench/BENCHMARKS.quick.md)"
# Prints the figures; fails only on gross failures (e.g. a client that never
# reconnected), never on a missed goal. Full runs: see BENCHMARKS.md.
target/debug/tether-bench --quick

step "brief fuzzing (scripts/fuzz.sh, ${TETHER_FUZZ_SECONDS:-20} s per target)"
scripts/fuzz.sh "${TETHER_FUZZ_SECONDS:-20}"

step "desktop app end to end (scripts/test-app-e2e.sh: Xvfb + tauri-driver; artifacts: test-artifacts/app/)"
scripts/test-app-e2e.sh
