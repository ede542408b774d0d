#!/usr/bin/env bash
# Install everything a fresh Debian 12 / Ubuntu machine with Rust and Node needs
# to build Tether and run its whole test suite. Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages (apt, --no-install-recommends). Add new ones to this list.
APT_PACKAGES=(
    # build
    build-essential
    pkg-config
    # network fault injection in tests/ (namespaces, veth, nftables, ping)
    iproute2
    nftables
    iputils-ping
    # media crates: opus (cmake), VP8 (libvpx), audio devices (cpal: ALSA),
    # cameras (nokhwa: v4l, bindgen needs clang)
    cmake
    clang
    libclang-dev
    libopus-dev
    libvpx-dev
    libasound2-dev
    libv4l-dev
    # web UI end-to-end tests: playwright-core drives Debian's chromium
    chromium
    # desktop app (src-tauri: Tauri v2 on WebKitGTK); xvfb, xauth and
    # webkit2gtk-driver run it headless and under tauri-driver
    libwebkit2gtk-4.1-dev
    libssl-dev
    libayatana-appindicator3-dev
    librsvg2-dev
    libxdo-dev
    file
    curl
    xvfb
    xauth
    webkit2gtk-driver
)

# Cargo tools: "binary crate" pairs, installed from crates.io only when missing.
CARGO_TOOLS=(
    "cargo-nextest cargo-nextest"
    "cargo-fuzz cargo-fuzz"
    "tauri-driver tauri-driver"
)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "setup.sh: not root and sudo is missing; cannot install system packages" >&2
        exit 1
    fi
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
else
    echo "setup.sh: system packages already installed"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup.sh: cargo not found; install Rust (rustup) first" >&2
        exit 1
    fi
fi

for entry in "${CARGO_TOOLS[@]}"; do
    read -r bin crate <<<"$entry"
    if command -v "$bin" >/dev/null 2>&1; then
        echo "setup.sh: $bin already installed"
    else
        echo "setup.sh: installing $crate from crates.io"
        cargo install "$crate" --locked
    fi
done

# Node packages of the web UI, exactly as locked; skipped when node_modules is
# already in step with package-lock.json.
if [ -f ui/package-lock.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup.sh: npm not found; install Node.js (20 or newer) first" >&2
        exit 1
    fi
    if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
        echo "setup.sh: installing the web UI's node packages (npm ci)"
        (cd ui && npm ci --no-audit --no-fund)
    else
        echo "setup.sh: web UI node packages already installed"
    fi
fi

# rustfmt and clippy are used by scripts/test.sh.
if command -v rustup >/dev/null 2>&1; then
    for comp in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
            rustup component add "$comp" || echo "setup.sh: could not add $comp with rustup" >&2
        fi
    done
fi

echo "setup.sh: done"
