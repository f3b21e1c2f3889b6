#!/usr/bin/env bash
# exporterctl end-to-end tests against a real systemd (systemd-nspawn).
#
#   tests/e2e/run.sh [--infra-only] [path/to/exporterctl | --deb path/to/exporterctl_*.deb]
#
# With --deb the package is installed in the container with apt-get and the
# suite drives /usr/bin/exporterctl; the package's own scenarios run too.
# See tests/e2e/README.md. Needs root. Environment:
#   EXPORTERCTL_E2E_CACHE  cache dir for the rootfs and releases
#                          (default /var/cache/exporterctl-e2e)
#   E2E_LOG_DIR            if set, logs of the run are copied there
#   E2E_RUST_LOG           passed as RUST_LOG to exporterctl
#   E2E_SCENARIOS          space-separated subset of scenarios to run (default: all)
#   E2E_KILL_TRIGGER       scenario 6: kill after the first link 'flip' (default)
#                          or as soon as the 'journal' exists
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
CACHE_DIR=${EXPORTERCTL_E2E_CACHE:-/var/cache/exporterctl-e2e}
INFRA_ONLY=0
BIN=""
DEB=""
while [ $# -gt 0 ]; do
    case $1 in
        --infra-only) INFRA_ONLY=1 ;;
        --deb) DEB=${2:?--deb needs the path of a .deb}; shift ;;
        -h|--help) sed -n "2,16p" "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) BIN=$1 ;;
    esac
    shift
done
[ -z "$DEB" ] || [ -z "$BIN" ] || { echo "give either a binary or --deb, not both" >&2; exit 2; }

# shellcheck source=lib/host.sh
source "$E2E_DIR/lib/host.sh"
# shellcheck source=lib/checks.sh
source "$E2E_DIR/lib/checks.sh"
# shellcheck source=lib/scenarios.sh
source "$E2E_DIR/lib/scenarios.sh"
# shellcheck source=lib/packaging.sh
source "$E2E_DIR/lib/packaging.sh"

[ "$(id -u)" = 0 ] || die "must run as root (systemd-nspawn)"
T_START=$(date +%s.%N)

WORK=$(mktemp -d /tmp/exporterctl-e2e.XXXXXX)
echo $$ >"$WORK/owner.pid"  # a concurrent run's cleanup keeps it while we live
mkdir -p "$WORK/logs" "$WORK/facts" "$WORK/share/bin"
SCRAPER_PID=""
SCEN_PID=""

# kill_tree PID: TERM a process and all its descendants (children first).
kill_tree() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
    kill -TERM "$1" 2>/dev/null || true
}

SUMMARY_DONE=0
PASSED=0
FAILED=0

cleanup() {
    local rc=$?
    set +e
    if [ "$SUMMARY_DONE" = 0 ] && [ "$rc" != 0 ]; then
        # setup failed or the run was interrupted: still end with a summary line
        echo "e2e: $PASSED passed, $((FAILED + 1)) failed"
    fi
    if [ -n "$SCEN_PID" ]; then
        log "interrupted: stopping the running scenario"
        kill_tree "$SCEN_PID"
        wait "$SCEN_PID" 2>/dev/null
    fi
    if [ -n "$SCRAPER_PID" ]; then
        touch "$WORK/scraper.stop"
        kill -TERM "$SCRAPER_PID" 2>/dev/null
        wait "$SCRAPER_PID" 2>/dev/null
    fi
    teardown_container
    if [ -n "${E2E_LOG_DIR:-}" ]; then
        mkdir -p "$E2E_LOG_DIR" && cp -a "$WORK/logs/." "$E2E_LOG_DIR/" && log "logs copied to $E2E_LOG_DIR"
    fi
    rm -rf "$WORK"
    release_run_lock
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ------------------------------------------------------------ binary under test
# The scenarios run exporterctl inside the container as $XCTL.
XCTL=/host/bin/exporterctl
if [ "$INFRA_ONLY" = 0 ] && [ -n "$DEB" ]; then
    [ -f "$DEB" ] || die "no such package: $DEB"
    DEB_NAME=$(basename "$DEB")
    UPGRADE_DEB_NAME=${DEB_NAME%.deb}.upgrade.deb
    cp "$DEB" "$WORK/share/$DEB_NAME"
    make_upgrade_deb "$DEB" "$WORK/share/$UPGRADE_DEB_NAME" || die "cannot repack $DEB with a higher version"
    XCTL=/usr/bin/exporterctl
    log "package under test: $DEB (installed as $XCTL)"
elif [ "$INFRA_ONLY" = 0 ]; then
    [ -n "$BIN" ] || BIN=$(default_release_binary) || die "cargo build --release failed"
    [ -x "$BIN" ] || die "exporterctl binary not found or not executable: $BIN"
    BIN=$(readlink -f "$BIN")
    cp "$BIN" "$WORK/share/bin/exporterctl"
    log "binary under test: $BIN"
fi

# ------------------------------------------------------------ host, rootfs, releases
acquire_run_lock
cleanup_stale_runs
install_host_packages
ensure_rootfs

# Releases are derived from the rootfs binaries and the packaging script only.
REL_KEY=$( { cat "$E2E_DIR/tools/make_releases.py"
             sha256sum "$ROOTFS"/usr/bin/prometheus-{node,nginx,mysqld}-exporter; } | sha256sum | cut -c1-12)
RELEASES="$CACHE_DIR/releases-$REL_KEY"
if [ ! -f "$RELEASES/index.json" ]; then
    rm -rf "$CACHE_DIR"/releases-*
    tmp=$(mktemp -d "$CACHE_DIR/releases-$REL_KEY.tmp.XXXXXX")
    log "packaging releases into $RELEASES"
    py "$E2E_DIR/tools/make_releases.py" --bin-dir "$ROOTFS/usr/bin" --out "$tmp/out" \
        || { rm -rf "$tmp"; die "make_releases.py failed"; }
    mv -T "$tmp/out" "$RELEASES"
    rmdir "$tmp"
fi

cp -r "$E2E_DIR/tools" "$E2E_DIR/manifests" "$WORK/share/"

# ------------------------------------------------------------ boot
T_BOOT0=$(date +%s.%N)
boot_container "$WORK/share" "$RELEASES"
T_BOOT1=$(date +%s.%N)
log "container running after $(py -c "print(f'{$T_BOOT1-$T_BOOT0:.2f}')") s"

ct systemd-run -q --unit=e2e-release-server -p StandardError=journal \
    /usr/bin/python3 /host/tools/release_server.py --bind 127.0.0.1 --port 8999 \
    --dir /srv/releases --log /run/e2e-release-server.log
for _ in $(seq 1 100); do
    ct curl -sf -o /dev/null http://127.0.0.1:8999/index.json && break
    sleep 0.1
done
ct curl -sf -o /dev/null http://127.0.0.1:8999/index.json || die "release server does not answer"

# ------------------------------------------------------------ scenarios
FAILED_NAMES=()
MARKERS="$WORK/logs/markers.txt"

run_scenario() {
    local name=$1 fn=$2 rc t0 t1
    if [ -n "${E2E_SCENARIOS:-}" ] && ! [[ " $E2E_SCENARIOS " == *" $name "* ]]; then
        return 0
    fi
    echo
    echo "=== $name"
    SCENARIO=$name
    t0=$(date +%s.%N)
    echo "$t0 START $name" >>"$MARKERS"
    # In the background + wait, so that a TERM/INT to this script is handled
    # at once (bash defers traps until a foreground child returns).
    set +e
    ( set -e; "$fn" ) &
    SCEN_PID=$!
    wait "$SCEN_PID"
    rc=$?
    SCEN_PID=""
    set -e
    t1=$(date +%s.%N)
    echo "$t1 END $name" >>"$MARKERS"
    local dt
    dt=$(py -c "print(f'{$t1-$t0:.1f}')")
    if [ "$rc" = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "PASS $name (${dt}s)"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        dump_debug
        echo "FAIL $name (${dt}s)"
    fi
}

start_scraper() {
    # On the host, inside the container's network namespace only.
    nsenter -t "$LEADER" -n /usr/bin/python3 "$E2E_DIR/tools/scraper.py" run \
        --target node_exporter=http://127.0.0.1:9100/metrics \
        --target nginx_exporter=http://127.0.0.1:9113/metrics \
        --target mysqld_exporter=http://127.0.0.1:9104/metrics \
        --interval 0.05 --max-seconds 1200 --stop-file "$WORK/scraper.stop" \
        --out "$WORK/logs/scrape-events.txt" &
    SCRAPER_PID=$!
}
stop_scraper() {
    [ -n "$SCRAPER_PID" ] || return 0
    touch "$WORK/scraper.stop"
    wait "$SCRAPER_PID" 2>/dev/null || true
    SCRAPER_PID=""
}

run_scenario "0-infra" scenario_infra
if [ "$INFRA_ONLY" = 0 ]; then
    [ -z "$DEB" ] || run_scenario "0-package-install" scenario_pkg_install
    start_scraper
    run_scenario "1-adopt-hand-installed" scenario_1_adopt
    run_scenario "2-switch-three-exporters" scenario_2_switch
    run_scenario "3-switch-same-manifest-noop" scenario_3_noop
    run_scenario "4-broken-release-auto-rollback" scenario_4_broken
    run_scenario "5-rollback-offline" scenario_5_rollback
    run_scenario "6-kill-9-then-resume" scenario_6_kill_resume
    run_scenario "7-gc-keep-1" scenario_7_gc
    run_scenario "8-sandboxed-units" scenario_8_sandbox
    run_scenario "9-no-ca-store" scenario_9_no_ca_store
    run_scenario "10-socket-activation" scenario_10_socket
    run_scenario "11-prometheus-scrapes" scenario_11_prometheus
    run_scenario "12-preflight" scenario_12_preflight
    [ -z "$DEB" ] || run_scenario "13-package-gc-timer-upgrade-purge" scenario_pkg_upgrade_purge
    stop_scraper
    echo
    echo "=== scrape-gaps (a figure, not an assertion)"
    py "$E2E_DIR/tools/scraper.py" report --events "$WORK/logs/scrape-events.txt" --markers "$MARKERS" || true
fi

T_END=$(date +%s.%N)
echo
log "total wall time $(py -c "print(f'{$T_END-$T_START:.1f}')") s"
[ "$FAILED" = 0 ] || echo "failed: ${FAILED_NAMES[*]}"
echo "e2e: $PASSED passed, $FAILED failed"
SUMMARY_DONE=1
[ "$FAILED" = 0 ]
