#!/usr/bin/env bash
# The headless demo (the main job before the desktop app): build, start a local channel
# server on 127.0.0.1 (open auth), and two headless clients in one channel for
# about 10 seconds, printing every event they report; then stop everything.
#
#   TETHER_PORT=7480 scripts/demo-cli.sh      # another port
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

PORT="${TETHER_PORT:-7480}"
CHANNEL="${TETHER_CHANNEL:-demo}"
URL="ws://127.0.0.1:$PORT"
BIN="$(pwd)/target/debug"

echo "==> building tether-server and tether"
cargo build -p tether-server -p tether-cli

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# wait_line FILE PATTERN SECONDS: wait until FILE has a line matching PATTERN.
wait_line() {
    local file="$1" pattern="$2" secs="$3" i
    for ((i = 0; i < secs * 10; i++)); do
        if grep -q -- "$pattern" "$file" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo-cli.sh: timed out after ${secs}s waiting for '$pattern' in $file" >&2
    return 1
}

start_server() {
    "$BIN/tether-server" --listen "127.0.0.1:$PORT" --auth open >"$work/server.out" 2>>"$work/server.log" &
    server=$!
    pids+=("$server")
    if ! wait_line "$work/server.out" "^listening on $URL\$" 15; then
        cat "$work/server.log" >&2
        exit 1
    fi
    echo "    $(cat "$work/server.out")"
}

echo "==> starting tether-server on 127.0.0.1:$PORT (open auth; logs in $work/server.log)"
start_server

echo "==> uid 1 (alice) joins channel '$CHANNEL' and publishes; uid 2 (bob) joins when alice is connected"
echo "    every line below is one event, as JSON, prefixed with who saw it"
"$BIN/tether" join --server "$URL" --channel "$CHANNEL" --uid 1 --name alice --publish --duration 14 \
    2>"$work/alice.log" > >(tee "$work/alice.out" | sed -u 's/^/[alice uid 1] /') &
alice=$!
pids+=("$alice")
wait_line "$work/alice.out" '"curState":"CONNECTED"' 15

"$BIN/tether" join --server "$URL" --channel "$CHANNEL" --uid 2 --name bob --duration 10 \
    2>"$work/bob.log" > >(tee "$work/bob.out" | sed -u 's/^/[bob   uid 2] /') &
bob=$!
pids+=("$bob")
wait_line "$work/bob.out" '"curState":"CONNECTED"' 15

# The demo's timeline: a server crash 3 s in, back 1 s later; both clients
# reconnect on their own. Bob leaves after 10 s, alice after 14 s.
sleep 3
echo "==> simulating a server crash: kill -9, then a restart on the same address 1 s later"
kill -KILL "$server"
wait "$server" 2>/dev/null || true
sleep 1
: >"$work/server.out"
start_server

status=0
wait "$bob" || { echo "demo-cli.sh: bob exited with $?" >&2; cat "$work/bob.log" >&2; status=1; }
wait "$alice" || { echo "demo-cli.sh: alice exited with $?" >&2; cat "$work/alice.log" >&2; status=1; }

echo "==> stopping the server (SIGTERM)"
kill -TERM "$server"
wait "$server" || { echo "demo-cli.sh: server exited with $?" >&2; status=1; }
pids=()
sleep 0.2 # let the prefixing pipes flush their last lines
if [ "$status" -eq 0 ]; then
    echo "==> done: both clients joined, saw each other, rode out the server crash, and left cleanly"
fi
exit "$status"
