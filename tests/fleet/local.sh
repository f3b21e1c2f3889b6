#!/usr/bin/env bash
# The cheap fleet tier: LOCAL_HOSTS (default 50) inventory hosts on this
# machine, each `ansible_connection=local` with its own exporterctl --root,
# the `process` service manager and its own port, running the demo exporter
# released by a local server. Rolls out 1.0.0 (setup), then measures the
# rollout of 2.0.0 with the collection's rollout.yml: the wall time per
# host, exporterctl's own time per host, and Ansible's overhead. Figures
# for docs/fleet.md. No root, no containers.
#
#   tests/fleet/local.sh [path/to/exporterctl]
#
# Environment: LOCAL_HOSTS, LOCAL_FORKS (default 10), ANSIBLE_BIN_DIR (the
# ansible-playbook to use, default /usr/bin), FLEET_LOG_DIR.
set -euo pipefail

FLEET_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$FLEET_DIR/../.." && pwd)
HOSTS=${LOCAL_HOSTS:-50}
FORKS=${LOCAL_FORKS:-10}
ANSIBLE_BIN_DIR=${ANSIBLE_BIN_DIR:-/usr/bin}
BIN=${1:-}
log() { printf '[fleet-local %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

if [ -z "$BIN" ]; then
    tdir=${CARGO_TARGET_DIR:-target}
    case $tdir in /*) ;; *) tdir="$REPO/$tdir" ;; esac
    BIN="$tdir/release/exporterctl"
fi
[ -x "$BIN" ] || die "exporterctl binary not found: $BIN (cargo build --release)"
[ -x "$ANSIBLE_BIN_DIR/ansible-playbook" ] || die "no $ANSIBLE_BIN_DIR/ansible-playbook (apt-get install ansible-core)"
[ -x /usr/bin/time ] || die "no /usr/bin/time (apt-get install time)"

WORK=$(mktemp -d /tmp/exporterctl-fleet-local.XXXXXX)
mkdir -p "$WORK/logs" "$WORK/releases" "$WORK/share"
cp "$(readlink -f "$BIN")" "$WORK/share/exporterctl"
XBIN=$WORK/share/exporterctl
SERVER_PID=""

# Stop what this run started, by the pids it recorded, after checking each
# still belongs to it: the release server, and every exporter the process
# manager started under one of this run's roots.
cleanup() {
    local rc=$? pidfile pid
    set +e
    for pidfile in "$WORK"/hosts/*/var/lib/exporterctl/run/*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$pidfile" 2>/dev/null)
        [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 1 ] || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$WORK/" && kill -TERM "$pid"
    done
    if [ -n "$SERVER_PID" ] && tr '\0' ' ' <"/proc/$SERVER_PID/cmdline" 2>/dev/null | grep -qF -- "--dir $WORK/releases"; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ -n "${FLEET_LOG_DIR:-}" ]; then mkdir -p "$FLEET_LOG_DIR" && cp -a "$WORK/logs/." "$FLEET_LOG_DIR/"; fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

/usr/bin/python3 "$FLEET_DIR/tools/local_fleet.py" publish --exe "$XBIN" --out "$WORK/releases" 1.0.0 2.0.0
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 "$REPO/tests/e2e/tools/release_server.py" --bind 127.0.0.1 --port "$PORT" --dir "$WORK/releases" \
    --log "$WORK/logs/release-server.log" >"$WORK/logs/release-server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && break; sleep 0.1; done

# Exporter ports: a free block above a random base (checked, not assumed),
# above the kernel's ephemeral range when there is room (else below it).
# Not in it: a port there can be taken, before its exporter binds it, as the
# local end of any outgoing loopback connection (Ansible's, a health
# check's, a preflight's scrape) — seen: "Address already in use" for one
# host in 50, with the block at 34k. Not where exporterctl picks a
# preflight copy's port either (from 20000 up to the range), if it can be
# helped: one host's copy could hold another host's port while that
# exporter starts.
BASE_PORT=$(/usr/bin/python3 - "$HOSTS" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    low, high = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[:2])
except (OSError, ValueError):
    low, high = 32768, 60999
if 65535 - high > n + 10:
    span = (high + 1, 65535 - n - 1)
elif low - n - 1 > 10000:
    span = (10000, low - n - 1)
else:
    sys.exit("no room for %d ports outside the ephemeral range %d-%d" % (n, low, high))
for _ in range(50):
    base = random.randrange(*span)
    ok = True
    for p in range(base + 1, base + n + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
            break
        finally:
            s.close()
    if ok:
        print(base)
        sys.exit(0)
sys.exit("no free block of %d ports" % n)
PY
)

cat >"$WORK/ansible.cfg" <<CFG
[defaults]
collections_path = $WORK/collections
local_tmp = $WORK/ansible-local
remote_tmp = $WORK/ansible-remote
retry_files_enabled = False
forks = $FORKS
nocolor = True
CFG
export ANSIBLE_CONFIG="$WORK/ansible.cfg" HOME="$WORK"
"$ANSIBLE_BIN_DIR/ansible-galaxy" collection install -p "$WORK/collections" "$REPO/contrib/ansible" \
    >"$WORK/logs/galaxy.log" 2>&1 || { cat "$WORK/logs/galaxy.log" >&2; die "collection install failed"; }

# The measured playbook: the collection's rollout, then the per-host results.
cat >"$WORK/measure.yml" <<YML
- name: The collection's rollout
  ansible.builtin.import_playbook: exporterctl.fleet.rollout

- name: Write each host's switch result
  hosts: exporters
  gather_facts: false
  tasks:
    - name: Results as JSON
      ansible.builtin.copy:
        content: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'exporterctl_switch') | map('default', {}) | map('combine', {}) )) | to_json }}"
        dest: "$WORK/logs/results-{{ measure_name }}.json"
        mode: "0644"
      run_once: true
      delegate_to: localhost
YML

rollout() {  # rollout NAME VERSION -> wall seconds in WALL
    local name=$1 version=$2 t0 t1
    /usr/bin/python3 "$FLEET_DIR/tools/local_fleet.py" inventory --hosts "$HOSTS" --work "$WORK" \
        --server "http://127.0.0.1:$PORT" --version "$version" --base-port "$BASE_PORT" --exe "$XBIN" \
        >"$WORK/inventory-$name.json"
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$WORK/logs/$name.cpu" \
        "$ANSIBLE_BIN_DIR/ansible-playbook" -i "$WORK/inventory-$name.json" "$WORK/measure.yml" \
        -e "rollout_id=local-$name" -e "measure_name=$name" >"$WORK/logs/$name.log" 2>&1 ||
        { tail -n 40 "$WORK/logs/$name.log" >&2; die "rollout $name failed"; }
    t1=$(date +%s.%N)
    WALL=$(/usr/bin/python3 -c "print(f'{$t1-$t0:.2f}')")
    CPU=$(awk '/^[0-9.]+ [0-9.]+$/ {print $1 + $2}' "$WORK/logs/$name.cpu")
    log "rollout $name ($version) on $HOSTS hosts: $WALL s, controller CPU $CPU s (Ansible, its forks and the local modules)"
}

log "$("$ANSIBLE_BIN_DIR/ansible-playbook" --version 2>/dev/null | sed -n 1p), $HOSTS hosts, forks $FORKS"
rollout setup 1.0.0
rollout upgrade 2.0.0
echo "=== fleet-local: the rollout of 2.0.0 (serial [1, 25%, 100%])"
/usr/bin/python3 "$FLEET_DIR/tools/local_fleet.py" summary --results "$WORK/logs/results-upgrade.json" \
    --wall "$WALL" --hosts "$HOSTS" --forks "$FORKS"
# Every host serves 2.0.0 now (asserted on each host's own status, not Ansible's output).
bad=0
for i in $(seq 1 "$HOSTS"); do
    h=$(printf 'local%02d' "$i")
    v=$("$XBIN" --root "$WORK/hosts/$h" status --json |
        /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); e=d["exporters"][0]; print(e["version"], e["health"])')
    [ "$v" = "2.0.0 healthy" ] || { log "$h: $v"; bad=$((bad + 1)); }
done
[ "$bad" = 0 ] || die "$bad hosts are not on a healthy 2.0.0"
echo "fleet-local: $HOSTS hosts on 2.0.0, healthy"
