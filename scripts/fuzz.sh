#!/usr/bin/env bash
# Run every cargo-fuzz (libFuzzer) target in fuzz/ for SECONDS each (default
# 25), one after the other, and print a summary (CPU time, executions, corpus
# size, result). New corpus entries go to fuzz/corpus/<target> (ignored by git);
# the committed seeds are fuzz/seeds/<target>. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit non-zero after all targets
# ran. See RELIABILITY.md.
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer, sancov passes);
# only the stable toolchain exists on these machines, so RUSTC_BOOTSTRAP=1 lets
# stable rustc accept them. Nothing else is built with it.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-25}"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is missing: scripts/setup.sh installs it (cargo install cargo-fuzz --locked)" >&2
    exit 1
fi

echo "fuzz.sh: building the fuzz targets (release with debug assertions, AddressSanitizer)"
build_start=$(date +%s)
cargo fuzz build -O -a
echo "fuzz.sh: built in $(( $(date +%s) - build_start )) s"

summary=fuzz/target/summary.md
mkdir -p fuzz/target
{
    echo "| target | wall s | CPU s | executions | corpus entries | result |"
    echo "|---|---|---|---|---|---|"
} > "$summary"
failed=0
for target in $(cargo fuzz list); do
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
    log="fuzz/target/$target.log"
    TIMEFORMAT='%U %S'
    start=$(date +%s)
    set +e
    { time cargo fuzz run -O -a "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 ; } 2>"fuzz/target/$target.time"
    status=$?
    set -e
    wall=$(( $(date +%s) - start ))
    cpu=$(awk '{printf "%.1f", $1 + $2}' "fuzz/target/$target.time")
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    if [ "$status" -eq 0 ]; then
        result="ok"
    else
        result="FAILED (exit $status; see $log and fuzz/artifacts/$target/)"
        failed=$((failed + 1))
        tail -40 "$log" >&2
    fi
    echo "| $target | $wall | $cpu | ${execs:-?} | $corpus | $result |" >> "$summary"
    echo "fuzz.sh: $target: ${wall}s wall, ${cpu}s CPU, ${execs:-?} executions, $corpus corpus entries: $result"
done
echo
cat "$summary"
if [ "$failed" -gt 0 ]; then
    echo "fuzz.sh: $failed target(s) failed" >&2
    exit 1
fi
