#!/usr/bin/env bash
# The whole test suite: formatting and lints, the fast tests (unit,
# integration, crash-at-every-point), then, as root, the Debian package
# (built, lintian-checked) and the end-to-end suite on a real systemd in a
# container with that package installed, and the Ansible fleet tests
# (installs what it needs with apt and pip).
set -euo pipefail
cd "$(dirname "$0")/.."

# The same target directory as `cargo run --release -- demo`: cargo's own
# default ./target unless CARGO_TARGET_DIR says otherwise, so the release
# build the README's first command made is reused here, not rebuilt.
# (.ci/run points it at a cache outside the checkout.)

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

# tests/unitfile.rs checks generated units with the real systemd-analyze,
# tests/history.rs counts system calls with strace, tests/preflight.rs runs
# Debian's node_exporter as its own preflight: as root (CI) install them if
# missing, and let those tests fail, not skip.
if [ "$(id -u)" = 0 ]; then
  command -v systemd-analyze >/dev/null || { apt-get update -qq && apt-get install -y -qq systemd; }
  command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }
  export EXPORTERCTL_REQUIRE_SYSTEMD_ANALYZE=1 EXPORTERCTL_REQUIRE_STRACE=1
  # tests/monitoring.rs runs Debian's Prometheus, Alertmanager and
  # node_exporter on loopback ports (tests/preflight.rs runs that node_exporter
  # as its own preflight). policy-rc.d keeps the packages' own
  # services from starting where PID 1 is systemd.
  if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
    || ! command -v promtool >/dev/null || ! command -v prometheus-node-exporter >/dev/null; then
    step "installing prometheus, prometheus-alertmanager, prometheus-node-exporter for tests/monitoring.rs"
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-alertmanager prometheus-node-exporter >/dev/null
    if [ -n "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
  fi
  export EXPORTERCTL_REQUIRE_MONITORING=1 EXPORTERCTL_REQUIRE_NODE_EXPORTER=1
fi

step "fast tests (unit, integration, crash safety)"
cargo test --locked --features fault-injection

if [ "$(id -u)" = 0 ] || [ "${EXPORTERCTL_E2E:-}" = required ]; then
  step "Debian package (packaging/build-deb.sh --lintian)"
  # The packaging tools, from Debian's archive, when missing (about a minute).
  missing=()
  for p in dpkg-dev binutils lintian; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  deb=$(packaging/build-deb.sh --lintian | tail -n1)

  step "end-to-end on a real systemd (tests/e2e), with the package installed"
  tests/e2e/run.sh --deb "$deb"

  # The Ansible collection (contrib/ansible) on a fleet of real-systemd
  # containers reached over ssh, with Debian's ansible-core and the newest
  # one from PyPI, then the 50-host local tier; both drive the packaged binary.
  fleet_bin=$(mktemp -d /tmp/exporterctl-fleet-bin.XXXXXX)
  dpkg-deb -x "$deb" "$fleet_bin"
  step "fleet rollouts with Ansible on nspawn hosts (tests/fleet/run.sh)"
  FLEET_ANSIBLE="debian pip" tests/fleet/run.sh "$fleet_bin/usr/bin/exporterctl"
  step "fleet: 50 local hosts, rollout time per host (tests/fleet/local.sh)"
  tests/fleet/local.sh "$fleet_bin/usr/bin/exporterctl"
  rm -rf "$fleet_bin"
else
  step "end-to-end suite skipped: it needs root (systemd-nspawn); run as root or see tests/e2e/README.md"
fi
