#!/usr/bin/env bash
# The whole test suite: formatting and lints, the fast tests (unit,
# integration, crash-at-every-point), then the end-to-end suite on a real
# systemd in a container (needs root; installs what it needs with apt).
set -euo pipefail
cd "$(dirname "$0")/.."

# Reuse compiled dependencies between runs on the same machine; a fresh
# checkout without the cache still works, only slower.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/exporterctl/target}"
mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || export CARGO_TARGET_DIR="$PWD/target"

step() { printf '\n=== %s\n' "$*"; }

# The fast tests run a real python3 http.server under the process manager.
if ! python3 -c 'import http.server' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    step "installing python3 for the fast tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
  else
    echo "python3 is needed by the fast tests; install it (apt-get install python3)" >&2
    exit 1
  fi
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --locked --all-targets --features fault-injection -- -D warnings

# tests/unitfile.rs checks generated units with the real systemd-analyze:
# as root (CI) install it if missing, and let that test fail, not skip.
if [ "$(id -u)" = 0 ]; then
  command -v systemd-analyze >/dev/null || { apt-get update -qq && apt-get install -y -qq systemd; }
  export EXPORTERCTL_REQUIRE_SYSTEMD_ANALYZE=1
fi

step "fast tests (unit, integration, crash safety)"
cargo test --locked --features fault-injection

if [ "$(id -u)" = 0 ] || [ "${EXPORTERCTL_E2E:-}" = required ]; then
  step "end-to-end on a real systemd (tests/e2e)"
  cargo build --locked --release
  tests/e2e/run.sh "$CARGO_TARGET_DIR/release/exporterctl"
else
  step "end-to-end suite skipped: it needs root (systemd-nspawn); run as root or see tests/e2e/README.md"
fi
