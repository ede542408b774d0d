#!/usr/bin/env bash
# The chaos suite (tests/tests/chaos.rs; harness in tests/src/chaos/).
#   scripts/chaos.sh quick        the quick_* scenarios (CI runs them anyway,
#                                 as part of `cargo nextest run --workspace`)
#   scripts/chaos.sh full         the full_* scenarios (ignored by default:
#                                 loss 5/20/50 % 30 s each, flapping 60 s,
#                                 link down 2-120 s, ...), plus the quick ones
#   scripts/chaos.sh soak [SECS]  random joins/leaves/faults for SECS (default
#                                 600) s; TETHER_CHAOS_SEED=N replays a run,
#                                 TETHER_SOAK_MEDIA=0 leaves media out
# Needs root (network namespaces), iproute2 and nftables. Output goes to the
# terminal and to target/chaos-<mode>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
mode="${1:-quick}"
cargo build -p tether-server -p tether-cli
mkdir -p target
log="target/chaos-$mode.log"
# Every scenario prints MEASURE / CHAOS / SOAK lines; keep them.
run() {
    local status=0
    cargo nextest run -p tether-tests --test chaos --no-fail-fast --success-output final "$@" 2>&1 \
        | tee "$log" || status=$?
    echo "chaos.sh: log in $log; summary:"
    grep -hE '^ *(CHAOS|CHAOS_VIDEO|SOAK) ' "$log" | sed 's/^ *//' | sort -u || true
    return "$status"
}
case "$mode" in
    quick) run -E 'test(/^quick_/)' ;;
    full) run --run-ignored all -E 'test(/^(quick_|full_)/)' ;;
    soak)
        export TETHER_SOAK_SECS="${2:-${TETHER_SOAK_SECS:-600}}"
        run --run-ignored only -E 'test(=soak)'
        ;;
    *) echo "usage: $0 [quick|full|soak [SECS]]" >&2; exit 2 ;;
esac
