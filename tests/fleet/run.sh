#!/usr/bin/env bash
# A real fleet on one machine for the Ansible collection (contrib/ansible):
# FLEET_HOSTS systemd-nspawn containers, each a real systemd with sshd and
# Debian's node and nginx exporters, in its own network namespace reached
# over ssh on a veth pair; the controller is this host. Scenarios 1-5 of
# issue 10, each asserting on the hosts' `exporterctl status --json`.
#
#   tests/fleet/run.sh [path/to/exporterctl]
#
# Needs root. Environment:
#   FLEET_ANSIBLE          debian (ansible-core 2.14 from apt, default), pip
#                          (the newest ansible-core pip finds for this Python,
#                          in a venv), or "debian pip" for both
#   FLEET_HOSTS            number of hosts (default 3, at least 3)
#   FLEET_SCENARIOS        subset of scenario numbers to run (default "1 2 3 4 5")
#   EXPORTERCTL_E2E_CACHE  cache dir shared with tests/e2e (rootfs, releases, venv)
#   FLEET_LOG_DIR          copy the run's logs (ansible output, statuses) there
set -euo pipefail

FLEET_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$FLEET_DIR/../.." && pwd)
E2E_DIR=$REPO/tests/e2e
CACHE_DIR=${EXPORTERCTL_E2E_CACHE:-/var/cache/exporterctl-e2e}
FLEET_HOSTS=${FLEET_HOSTS:-3}
FLEET_ANSIBLE=${FLEET_ANSIBLE:-debian}
FLEET_SCENARIOS=${FLEET_SCENARIOS:-1 2 3 4 5}
BIN=${1:-}

# shellcheck source=../e2e/lib/host.sh
source "$E2E_DIR/lib/host.sh"
# shellcheck source=lib/fleet-host.sh
source "$FLEET_DIR/lib/fleet-host.sh"
log() { printf '[fleet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (systemd-nspawn, network namespaces)"
[ "$FLEET_HOSTS" -ge 3 ] || die "FLEET_HOSTS must be at least 3"
T_START=$(date +%s.%N)

WORK=$(mktemp -d /tmp/exporterctl-fleet.XXXXXX)
chmod 0755 "$WORK"
echo $$ >"$WORK/owner.pid"  # a later run's stale cleanup keeps it while we live
mkdir -p "$WORK/share/bin" "$WORK/ssh" "$WORK/logs" "$WORK/manifests" "$WORK/inventory"
SERVER_PID=""
PASSED=0
FAILED=0
FAILED_NAMES=()

cleanup() {
    local rc=$?
    set +e
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" "release_server.py --bind 127.0.0.1"
    teardown_fleet
    if [ -n "${FLEET_LOG_DIR:-}" ]; then
        mkdir -p "$FLEET_LOG_DIR" && cp -a "$WORK/logs/." "$FLEET_LOG_DIR/"
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ------------------------------------------------------------ binary
[ -n "$BIN" ] || BIN=$(default_release_binary) || die "cargo build --release failed"
[ -x "$BIN" ] || die "exporterctl binary not found: $BIN"
cp "$(readlink -f "$BIN")" "$WORK/share/bin/exporterctl"
XBIN=$WORK/share/bin/exporterctl

# ------------------------------------------------------------ packages, rootfs, releases
HOST_PKGS+=(openssh-client iproute2 ansible-core time)
case " $FLEET_ANSIBLE " in *" pip "*) HOST_PKGS+=(python3-venv python3-pip) ;; esac
install_host_packages
cleanup_stale_fleet
ensure_fleet_rootfs

REL_KEY=$( { cat "$E2E_DIR/tools/make_releases.py"
             sha256sum "$FLEET_ROOTFS"/usr/bin/prometheus-{node,nginx,mysqld}-exporter; } | sha256sum | cut -c1-12)
RELEASES="$CACHE_DIR/fleet-releases-$REL_KEY"
if [ ! -f "$RELEASES/index.json" ]; then
    rm -rf "$CACHE_DIR"/fleet-releases-*
    tmp=$(mktemp -d "$CACHE_DIR/fleet-releases-$REL_KEY.tmp.XXXXXX")
    log "packaging releases into $RELEASES"
    py "$E2E_DIR/tools/make_releases.py" --bin-dir "$FLEET_ROOTFS/usr/bin" --out "$tmp/out" \
        || { rm -rf "$tmp"; die "make_releases.py failed"; }
    mv -T "$tmp/out" "$RELEASES"
    rmdir "$tmp"
fi

# The pip flavour: a venv cached beside the rootfs (pip picks the newest
# ansible-core whose Requires-Python this interpreter meets).
ANSIBLE_BINS=()
for flavour in $FLEET_ANSIBLE; do
    case $flavour in
        debian) ANSIBLE_BINS+=("debian:/usr/bin") ;;
        pip)
            VENV=$CACHE_DIR/fleet-ansible-venv
            if ! "$VENV/bin/ansible-playbook" --version >/dev/null 2>&1; then
                rm -rf "$VENV"
                log "creating $VENV with the newest ansible-core from PyPI"
                /usr/bin/python3 -m venv "$VENV"
                "$VENV/bin/pip" install -q --disable-pip-version-check ansible-core >"$WORK/pip.log" 2>&1 \
                    || { cat "$WORK/pip.log" >&2; rm -rf "$VENV"; die "pip install ansible-core failed"; }
            fi
            ANSIBLE_BINS+=("pip:$VENV/bin")
            ;;
        *) die "FLEET_ANSIBLE: unknown flavour $flavour (debian, pip)" ;;
    esac
done

# ------------------------------------------------------------ controller: release server, ssh key
PORT=$(py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The interpreter itself in the background (not the py function's subshell),
# so SERVER_PID is the server's own pid and its cmdline can be checked.
/usr/bin/python3 "$E2E_DIR/tools/release_server.py" --bind 127.0.0.1 --port "$PORT" --dir "$RELEASES" \
    --log "$WORK/logs/release-server.log" >"$WORK/logs/release-server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/index.json" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/index.json" || die "release server does not answer"

ssh-keygen -q -t ed25519 -N '' -C exporterctl-fleet-test -f "$WORK/ssh/id"
cp "$WORK/ssh/id.pub" "$WORK/ssh/authorized_keys"
chmod 0644 "$WORK/ssh/authorized_keys"

for m in "$FLEET_DIR"/manifests/*.yaml; do
    sed "s|@RELEASES_URL@|http://127.0.0.1:$PORT|" "$m" >"$WORK/manifests/$(basename "$m")"
done

# Ansible's settings for every run: nothing from the machine's own config.
# ControlMaster=no: no ssh master outlives a run (they would keep a veth busy).
cat >"$WORK/ansible.cfg" <<CFG
[defaults]
collections_path = $WORK/collections
host_key_checking = False
local_tmp = $WORK/ansible-local
retry_files_enabled = False
forks = 10
timeout = 5
nocolor = True
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=no -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5
CFG

# ------------------------------------------------------------ hosts
T_BOOT0=$(date +%s.%N)
for i in $(seq 1 "$FLEET_HOSTS"); do boot_fleet_host "$i" "$WORK/share"; done
for i in $(seq 1 "$FLEET_HOSTS"); do wait_fleet_host "$i"; done
for i in $(seq 1 "$FLEET_HOSTS"); do
    for _ in $(seq 1 100); do
        ssh -q -i "$WORK/ssh/id" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -o ConnectTimeout=2 -o ControlMaster=no "root@$(host_ip "$i")" true && break
        sleep 0.2
    done
done
log "$FLEET_HOSTS hosts up in $(py -c "print(f'{$(date +%s.%N)-$T_BOOT0:.1f}')") s"

# inventory HOSTVARS_FILE: exporterctl_manifest per host from "i=manifest" pairs
write_inventory() {
    local out=$1; shift
    local i m
    {
        echo "exporters:"
        echo "  hosts:"
        for i in $(seq 1 "$FLEET_HOSTS"); do
            m=base.yaml
            for pair in "$@"; do [ "${pair%%=*}" = "$i" ] && m=${pair#*=}; done
            echo "    host$i:"
            echo "      ansible_host: $(host_ip "$i")"
            echo "      exporterctl_manifest: $WORK/manifests/$m"
        done
        echo "  vars:"
        echo "    ansible_user: root"
        echo "    ansible_ssh_private_key_file: $WORK/ssh/id"
        echo "    ansible_python_interpreter: /usr/bin/python3"
        echo "    exporterctl_binary_src: $XBIN"
        echo "    exporterctl_offline: true"
        echo "    exporterctl_mirror_controller_dir: $WORK/mirror"
    } >"$out"
}

# playbook NAME LOG ARGS...: ansible-playbook of the installed collection;
# its exit status is returned, its output kept in $WORK/logs/LOG.
ANSIBLE_PATH=""
playbook() {
    local name=$1 logf=$2; shift 2
    local rc=0 t0 t1
    t0=$(date +%s.%N)
    # /usr/bin/time: the controller's CPU seconds (Ansible and its ssh clients).
    env ANSIBLE_CONFIG="$WORK/ansible.cfg" HOME="$WORK" NO_COLOR=1 \
        /usr/bin/time -f '%U %S' -o "$WORK/logs/$logf.cpu" \
        "$ANSIBLE_PATH/ansible-playbook" "exporterctl.fleet.$name" "$@" >"$WORK/logs/$logf" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    printf '%s wall %s s, controller cpu %s s\n' "$logf" "$(py -c "print(f'{$t1-$t0:.1f}')")" \
        "$(awk '/^[0-9.]+ [0-9.]+$/ {print $1 + $2}' "$WORK/logs/$logf.cpu" 2>/dev/null)" >>"$WORK/logs/walltimes.txt"
    log "ansible-playbook $name $* -> exit $rc ($(py -c "print(f'{$t1-$t0:.1f}')") s)"
    return $rc
}

# recap LOG HOST FIELD: a number from the PLAY RECAP line of HOST (changed, failed, unreachable, ...)
recap() { sed -n "s/^$2 *: .*$3=\([0-9]*\).*/\1/p" "$WORK/logs/$1" | tail -n1; }

# st I ARGS...: status.py on host I's `exporterctl status --json`
st() {
    local i=$1; shift
    hct "$i" /usr/local/bin/exporterctl status --json >"$WORK/logs/status-$i.json" || true
    py "$FLEET_DIR/tools/status.py" "$@" <"$WORK/logs/status-$i.json"
}

fail() { echo "ASSERT: $*" >&2; return 1; }

run_scenario() {
    local num=$1 name=$2 fn=$3 rc t0
    [ "$num" = 0 ] || [[ " $FLEET_SCENARIOS " == *" $num "* ]] || return 0
    echo
    echo "=== [$FLAVOUR] $num-$name"
    t0=$(date +%s.%N)
    set +e
    ( set -e; "$fn" )
    rc=$?
    set -e
    if [ "$rc" = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "PASS [$FLAVOUR] $num-$name ($(py -c "print(f'{$(date +%s.%N)-$t0:.1f}')")s)"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("[$FLAVOUR] $num-$name")
        echo "--- last ansible output:"
        tail -n 60 "$WORK/logs/$(ls -t "$WORK/logs" | grep '\.log$' | head -n1)" | sed 's/^/    /'
        echo "FAIL [$FLAVOUR] $num-$name"
    fi
}

# ------------------------------------------------------------ scenarios
# Hosts start with nothing managed. Each flavour resets them to base.yaml
# first (rollout r0-<flavour>), then runs the scenarios in order.
all_hosts() { seq 1 "$FLEET_HOSTS"; }

scenario_setup() {
    write_inventory "$WORK/inventory/base.yml"
    playbook rollout "$FLAVOUR-0-base.log" -i "$WORK/inventory/base.yml" -e "rollout_id=r0-$FLAVOUR" \
        || fail "the base rollout failed"
    local i
    for i in $(all_hosts); do
        st "$i" expect --healthy --version node_exporter=1.5.0 --version nginx_exporter=0.11.0-1+b4 \
            --last-status succeeded
    done
}

# The modules' documentation parses (ansible-doc), the playbooks pass
# --syntax-check, and galaxy.yml builds a tarball.
scenario_docs_syntax() {
    local m
    for m in switch rollback status; do
        env ANSIBLE_CONFIG="$WORK/ansible.cfg" HOME="$WORK" "$ANSIBLE_PATH/ansible-doc" -t module "exporterctl.fleet.$m" \
            >"$WORK/logs/$FLAVOUR-doc-$m.txt" 2>&1 || { cat "$WORK/logs/$FLAVOUR-doc-$m.txt"; fail "ansible-doc $m"; }
        grep -q "rollout" "$WORK/logs/$FLAVOUR-doc-$m.txt" || [ "$m" = status ] || fail "ansible-doc $m: no options listed"
    done
    write_inventory "$WORK/inventory/base.yml"
    playbook rollout "$FLAVOUR-syntax-rollout.log" -i "$WORK/inventory/base.yml" --syntax-check || fail "rollout.yml syntax"
    playbook rollback "$FLAVOUR-syntax-rollback.log" -i "$WORK/inventory/base.yml" --syntax-check || fail "rollback.yml syntax"
    (cd "$WORK" && env ANSIBLE_CONFIG="$WORK/ansible.cfg" HOME="$WORK" "$ANSIBLE_PATH/ansible-galaxy" collection build \
        --force "$REPO/contrib/ansible" >"$WORK/logs/$FLAVOUR-build.log" 2>&1) || { cat "$WORK/logs/$FLAVOUR-build.log"; fail "collection build"; }
    [ -f "$WORK/exporterctl-fleet-0.1.0.tar.gz" ] || fail "no collection tarball"
}

scenario_1_rollout() {
    local i gen
    write_inventory "$WORK/inventory/v2.yml" $(for i in $(all_hosts); do echo "$i=v2.yaml"; done)
    playbook rollout "$FLAVOUR-1-rollout.log" -i "$WORK/inventory/v2.yml" -e "rollout_id=r1-$FLAVOUR" \
        || fail "rollout r1 failed"
    for i in $(all_hosts); do
        gen=$(st "$i" field current_generation)
        echo "$gen" >"$WORK/gen-r1-$i"
        st "$i" expect --healthy --version node_exporter=1.5.1 --version nginx_exporter=0.11.1-1+b4 \
            --last-status succeeded --save-pids "$WORK/pids-r1-$i"
        [ "$(st "$i" field last_switch.kind)" = switch ] || fail "host$i: last switch is no switch"
        [ "$(hct "$i" sh -c 'cat /var/lib/exporterctl/generations/'"$gen"'.json' |
             py -c 'import json,sys; print(json.load(sys.stdin).get("rollout_id"))')" = "r1-$FLAVOUR" ] ||
            fail "host$i: generation $gen does not carry rollout id r1-$FLAVOUR"
    done
    # exporterctl's own time per host against the wall time of the rollout (a figure).
    echo "r1: $(grep -o 'exporterctl took [0-9]* ms' "$WORK/logs/$FLAVOUR-1-rollout.log" | awk '{print $3}' | paste -sd' ') ms of exporterctl per host"
    # The same manifests again: changed=0 on every host, nothing restarted.
    playbook rollout "$FLAVOUR-1-again.log" -i "$WORK/inventory/v2.yml" -e "rollout_id=r1b-$FLAVOUR" \
        || fail "the second run failed"
    for i in $(all_hosts); do
        [ "$(recap "$FLAVOUR-1-again.log" "host$i" changed)" = 0 ] || fail "host$i: changed on the second run"
        st "$i" expect --generation "$(cat "$WORK/gen-r1-$i")" --healthy --same-pids "$WORK/pids-r1-$i"
    done
}

scenario_2_check_diff() {
    local i
    playbook rollout "$FLAVOUR-2-check.log" -i "$WORK/inventory/base.yml" -e "rollout_id=r2-$FLAVOUR" --check --diff \
        || fail "the check run failed"
    for i in $(all_hosts); do
        # The plan per host: a change reported, with the versions it would move between.
        [ "$(recap "$FLAVOUR-2-check.log" "host$i" changed)" -ge 1 ] || fail "host$i: check mode reported no change"
        st "$i" expect --generation "$(cat "$WORK/gen-r1-$i")" --healthy --version node_exporter=1.5.1 \
            --same-pids "$WORK/pids-r1-$i"
        [ "$(hct "$i" sh -c 'ls /var/lib/exporterctl/switches | wc -l')" = 2 ] ||
            fail "host$i: check mode made a switch record"
    done
    grep -q '^-node_exporter: 1.5.1' "$WORK/logs/$FLAVOUR-2-check.log" || fail "no diff line -node_exporter: 1.5.1"
    grep -q '^+node_exporter: 1.5.0' "$WORK/logs/$FLAVOUR-2-check.log" || fail "no diff line +node_exporter: 1.5.0"
}

scenario_3_crash_second_batch() {
    local i last2 last3
    # host2 (the second batch) gets the crashing node_exporter; the others a good change.
    write_inventory "$WORK/inventory/s3.yml" $(for i in $(all_hosts); do echo "$i=v3.yaml"; done) "2=broken.yaml"
    last2=$(st 2 field last_switch.id)
    last3=$(st 3 field last_switch.id)
    st 2 expect --healthy --save-pids "$WORK/pids-s3-2"
    st 3 expect --healthy --save-pids "$WORK/pids-s3-3"
    if playbook rollout "$FLAVOUR-3-crash.log" -i "$WORK/inventory/s3.yml" -e "rollout_id=r3-$FLAVOUR"; then
        fail "the rollout succeeded although host2's release crashes"
    fi
    st 1 expect --healthy --version node_exporter=1.5.0 --version nginx_exporter=0.11.1-1+b4 --last-status succeeded
    # host2: the preflight (default warn) started 1.5.9 beside the running
    # 1.5.1, saw it crash while 1.5.1 started the same way served, and
    # refused the switch: nothing touched (same generation, same processes,
    # no switch record).
    st 2 expect --generation "$(cat "$WORK/gen-r1-2")" --healthy --version node_exporter=1.5.1 \
        --last-id "$last2" --same-pids "$WORK/pids-s3-2"
    grep -q 'refused by preflight (warn), nothing was changed' "$WORK/logs/$FLAVOUR-3-crash.log" \
        || fail "host2's task does not say the preflight refused the switch"
    # host3's batch never ran: untouched (same last switch, same processes).
    st 3 expect --generation "$(cat "$WORK/gen-r1-3")" --healthy --version node_exporter=1.5.1 \
        --last-id "$last3" --same-pids "$WORK/pids-s3-3"
    # The task's message quotes the failed step and the exporter's own last words.
    grep -q 'node_exporter 1.5.1 -> 1.5.9' "$WORK/logs/$FLAVOUR-3-crash.log" || fail "msg lacks the failed step"
}

scenario_4_rollback() {
    local i
    playbook rollback "$FLAVOUR-4-rollback.log" -i "$WORK/inventory/base.yml" -e "rollout_id=r3-$FLAVOUR" \
        || fail "rollback.yml failed"
    for i in $(all_hosts); do
        st "$i" expect --generation "$(cat "$WORK/gen-r1-$i")" --healthy --version node_exporter=1.5.1 \
            --version nginx_exporter=0.11.1-1+b4
    done
    [ "$(recap "$FLAVOUR-4-rollback.log" host1 changed)" = 1 ] || fail "host1 was not rolled back"
    for i in $(seq 2 "$FLEET_HOSTS"); do
        [ "$(recap "$FLAVOUR-4-rollback.log" "host$i" changed)" = 0 ] || fail "host$i reported a change"
    done
    # Rolling back the earlier rollout r1 returns every host to base (its generation from before r1).
    playbook rollback "$FLAVOUR-4-rollback-r1.log" -i "$WORK/inventory/base.yml" -e "rollout_id=r1-$FLAVOUR" \
        || fail "rollback.yml of r1 failed"
    for i in $(all_hosts); do
        st "$i" expect --generation "$(( $(cat "$WORK/gen-r1-$i") - 1 ))" --healthy --version node_exporter=1.5.0 \
            --version nginx_exporter=0.11.0-1+b4
        [ "$(recap "$FLAVOUR-4-rollback-r1.log" "host$i" changed)" = 1 ] || fail "host$i: r1 not rolled back"
    done
}

scenario_5_unreachable() {
    local i last2 last3 rc=0
    st 3 expect --healthy --save-pids "$WORK/pids-s5-3"
    last3=$(st 3 field last_switch.id)
    last2=$(st 2 field last_switch.id)
    ip link set "${HOST_VETH[2]}" down
    write_inventory "$WORK/inventory/v2.yml" $(for i in $(all_hosts); do echo "$i=v2.yaml"; done)
    playbook rollout "$FLAVOUR-5-unreachable.log" -i "$WORK/inventory/v2.yml" -e "rollout_id=r5-$FLAVOUR" || rc=$?
    ip link set "${HOST_VETH[2]}" up
    [ "$rc" != 0 ] || fail "the rollout succeeded with host2 unreachable"
    [ "$(recap "$FLAVOUR-5-unreachable.log" host2 unreachable)" = 1 ] || fail "the report does not name host2 unreachable"
    st 1 expect --healthy --version node_exporter=1.5.1 --last-status succeeded
    st 2 expect --healthy --version node_exporter=1.5.0 --last-id "$last2"
    st 3 expect --healthy --version node_exporter=1.5.0 --last-id "$last3" --same-pids "$WORK/pids-s5-3"
}

for entry in "${ANSIBLE_BINS[@]}"; do
    FLAVOUR=${entry%%:*}
    ANSIBLE_PATH=${entry#*:}
    rm -rf "$WORK/collections"
    env HOME="$WORK" ANSIBLE_CONFIG="$WORK/ansible.cfg" "$ANSIBLE_PATH/ansible-galaxy" collection install -p "$WORK/collections" \
        "$REPO/contrib/ansible" >"$WORK/logs/galaxy-$FLAVOUR.log" 2>&1 ||
        { cat "$WORK/logs/galaxy-$FLAVOUR.log" >&2; die "ansible-galaxy collection install failed"; }
    log "[$FLAVOUR] $("$ANSIBLE_PATH/ansible-playbook" --version 2>/dev/null | sed -n 1p)"
    # Every flavour starts from hosts without exporterctl state.
    for i in $(all_hosts); do
        hct "$i" sh -c 'for u in node_exporter nginx_exporter; do systemctl disable --now $u.service $u.socket >/dev/null 2>&1; done
                        rm -rf /var/lib/exporterctl /usr/local/bin/node_exporter /usr/local/bin/nginx_exporter \
                               /etc/systemd/system/node_exporter.* /etc/systemd/system/nginx_exporter.*
                        systemctl daemon-reload'
    done
    run_scenario 0 docs-and-syntax scenario_docs_syntax
    before=$FAILED
    run_scenario 0 setup scenario_setup
    [ "$FAILED" = "$before" ] || { log "[$FLAVOUR] setup failed: skipping its scenarios"; continue; }
    if [ -n "${FLEET_PAUSE:-}" ]; then  # debugging: the fleet stays up this many seconds
        log "pausing ${FLEET_PAUSE}s: ANSIBLE_CONFIG=$WORK/ansible.cfg HOME=$WORK, inventory $WORK/inventory/base.yml"
        sleep "$FLEET_PAUSE"
    fi
    run_scenario 1 rollout-all-hosts scenario_1_rollout
    run_scenario 2 check-diff scenario_2_check_diff
    run_scenario 3 crash-in-second-batch scenario_3_crash_second_batch
    run_scenario 4 rollback-by-rollout-id scenario_4_rollback
    run_scenario 5 unreachable-host scenario_5_unreachable
done

echo
echo "=== wall and controller CPU per playbook run"
cat "$WORK/logs/walltimes.txt"
log "total wall time $(py -c "print(f'{$(date +%s.%N)-$T_START:.1f}')") s"
[ "$FAILED" = 0 ] || echo "failed: ${FAILED_NAMES[*]}"
echo "fleet: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
