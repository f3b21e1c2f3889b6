# shellcheck shell=bash
# Host-side plumbing of the fleet tests (tests/fleet/run.sh): a rootfs for
# fleet hosts (the end-to-end suite's idea, plus sshd; no database), one
# network namespace + veth pair per host, one systemd-nspawn container per
# host, each booted from its own cgroup, and teardown by recorded pid.
# Expects E2E_DIR (tests/e2e), CACHE_DIR, WORK; uses log/die/py,
# customize_common_rootfs and cached_rootfs from tests/e2e/lib/host.sh.

FLEET_ROOTFS_VERSION=v1
FLEET_ROOTFS_PKGS=systemd,systemd-sysv,dbus,openssh-server,python3,curl,ca-certificates,iproute2,procps,nginx,prometheus-node-exporter,prometheus-nginx-exporter,prometheus-mysqld-exporter

customize_fleet_rootfs() {
    local d=$1
    # mysqld's package is here for its binary only: the release packaging needs it.
    customize_common_rootfs "$d" prometheus-node-exporter prometheus-nginx-exporter prometheus-mysqld-exporter
    # sshd: keys only, root by key (the test's own key, bound in at boot),
    # no DNS lookups of the controller.
    mkdir -p "$d/etc/ssh/sshd_config.d"
    printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nMaxStartups 100\nMaxSessions 100\n' \
        >"$d/etc/ssh/sshd_config.d/fleet.conf"
    fleet_rootfs_stamp >"$d/etc/exporterctl-fleet-rootfs"
}

fleet_rootfs_stamp() {
    { echo "$FLEET_ROOTFS_VERSION $FLEET_ROOTFS_PKGS"; declare -f customize_fleet_rootfs customize_common_rootfs; } | sha256sum | cut -c1-16
}

# ensure_fleet_rootfs -> sets FLEET_ROOTFS (built once, cached, renamed when complete)
ensure_fleet_rootfs() {
    FLEET_ROOTFS="$CACHE_DIR/fleet-rootfs-$FLEET_ROOTFS_VERSION"
    cached_rootfs "$FLEET_ROOTFS" "$FLEET_ROOTFS_PKGS" customize_fleet_rootfs exporterctl-fleet-rootfs \
        "$(fleet_rootfs_stamp)"
}

# ---------------------------------------------------------------- hosts
# Per host i (1-based): netns fl$$-i, veth vf$$h$i (host side, 10.231.i.1/30)
# <-> eth0 in the namespace (10.231.i.2/30), container xfleet-$$-i booted
# from cgroup /xfleet-$$-i (so --keep-unit's payload cgroups never collide).
HOST_NS=()
HOST_VETH=()
HOST_NSPAWN=()
HOST_LEADER=()
HOST_CG=()

host_ip() { echo "10.231.$1.2"; }

cgroup_roots() { echo /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; }

boot_fleet_host() {
    local i=$1 share=$2 ns="fl$$-$1" veth="vf$$h$1" name="xfleet-$$-$1" cg="xfleet-$$-$1" root
    ip netns add "$ns"
    HOST_NS[$i]=$ns
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    HOST_VETH[$i]=$veth
    ip addr add "10.231.$i.1/30" dev "$veth"
    ip link set "$veth" up
    ip -n "$ns" addr add "$(host_ip "$i")/30" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    for root in $(cgroup_roots); do
        [ -d "$root" ] && mkdir -p "$root/$cg"
    done
    HOST_CG[$i]=$cg
    # The subshell moves itself into the host's cgroup, then becomes nspawn.
    (
        for root in $(cgroup_roots); do
            [ -d "$root/$cg" ] && echo "$BASHPID" >"$root/$cg/cgroup.procs"
        done
        exec systemd-nspawn -q -D "$FLEET_ROOTFS" -M "$name" --boot --register=no --keep-unit \
            --volatile=overlay --network-namespace-path="/run/netns/$ns" --console=read-only \
            --bind-ro="$share:/host" --bind-ro="$WORK/ssh/authorized_keys:/root/.ssh/authorized_keys" \
            </dev/null >"$WORK/nspawn-$i.log" 2>&1
    ) &
    HOST_NSPAWN[$i]=$!
}

# wait_fleet_host I: sets HOST_LEADER[I] once the container's systemd runs.
wait_fleet_host() {
    local i=$1 n pid leader="" state=""
    for n in $(seq 1 300); do
        for pid in $(pgrep -P "${HOST_NSPAWN[$i]}" 2>/dev/null); do
            if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then leader=$pid; break 2; fi
        done
        kill -0 "${HOST_NSPAWN[$i]}" 2>/dev/null || { cat "$WORK/nspawn-$i.log" >&2; die "host $i: nspawn exited early"; }
        sleep 0.1
    done
    [ -n "$leader" ] || die "host $i: container PID 1 did not appear"
    HOST_LEADER[$i]=$leader
    for n in $(seq 1 300); do
        state=$(timeout 120 nsenter -t "$leader" -a systemctl is-system-running --wait 2>&1) || true
        # "offline": PID 1 is systemd but has not yet set up /run/systemd (seen once in CI).
        case $state in *"Failed to connect"*|""|offline) sleep 0.1 ;; *) break ;; esac
    done
    if [ "$state" != running ]; then
        hct "$i" systemctl --failed --no-pager >&2 || true
        die "host $i did not reach 'running' (state: $state)"
    fi
}

# Run a command inside host I (all namespaces, clean environment).
hct() {
    local i=$1; shift
    nsenter -t "${HOST_LEADER[$i]}" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# stop_pid PID PATTERN: TERM (then KILL) a process this run started, after
# checking its cmdline still matches what was started.
stop_pid() {
    local pid=$1 pattern=$2 n
    [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 1 ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for n in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

teardown_fleet() {
    local i root cg
    for i in "${!HOST_NSPAWN[@]}"; do
        stop_pid "${HOST_NSPAWN[$i]}" "-M xfleet-$$-$i "
    done
    for i in "${!HOST_CG[@]}"; do
        cg=${HOST_CG[$i]}
        for root in $(cgroup_roots); do
            [ -d "$root/$cg" ] && find "$root/$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rm -rf "/run/systemd/nspawn/propagate/xfleet-$$-$i"
    done
    rm -f "$(dirname "$FLEET_ROOTFS")/.#$(basename "$FLEET_ROOTFS").lck" 2>/dev/null
    rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null
    for i in "${!HOST_VETH[@]}"; do ip link del "${HOST_VETH[$i]}" 2>/dev/null; done
    for i in "${!HOST_NS[@]}"; do ip netns del "${HOST_NS[$i]}" 2>/dev/null; done
    HOST_NSPAWN=(); HOST_CG=(); HOST_VETH=(); HOST_NS=()
    return 0
}

# A run killed with SIGKILL leaves its containers, namespaces, veths and
# cgroups behind, all named after its pid: clean up those whose run is gone
# (never another live run's).
run_alive() {
    [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ] && kill -0 "$1" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'tests/fleet/run\.sh'
}

cleanup_stale_fleet() {
    local pid args owner ns link root cg
    for pid in $(pgrep -x systemd-nspawn 2>/dev/null); do
        args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        owner=$(sed -n 's/.* -M xfleet-\([0-9]*\)-[0-9]* .*/\1/p' <<<"$args")
        [ -n "$owner" ] && ! run_alive "$owner" || continue
        log "stopping a stale fleet container (nspawn pid $pid, run $owner)"
        stop_pid "$pid" "-M xfleet-$owner-"
    done
    for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(fl[0-9]*-[0-9]*\).*/\1/p'); do
        owner=${ns#fl}; owner=${owner%-*}
        run_alive "$owner" || { log "removing stale namespace $ns"; ip netns del "$ns"; }
    done
    for link in $(ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: \(vf[0-9]*h[0-9]*\)@.*/\1/p'); do
        owner=${link#vf}; owner=${owner%h*}
        run_alive "$owner" || ip link del "$link" 2>/dev/null
    done
    # The release server and work directory of a killed run (its owner.pid).
    local d
    for d in /tmp/exporterctl-fleet.*; do
        [ -d "$d" ] && [ "$d" != "${WORK:-}" ] || continue
        owner=$(cat "$d/owner.pid" 2>/dev/null || true)
        ! run_alive "$owner" || continue
        for pid in $(pgrep -f "release_server\.py --bind 127\.0\.0\.1 .*--log $d/" 2>/dev/null); do
            stop_pid "$pid" "--log $d/"
        done
        log "removing stale $d"
        rm -rf "$d"
    done
    for root in $(cgroup_roots); do
        for cg in "$root"/xfleet-*; do
            [ -d "$cg" ] || continue
            owner=${cg##*/xfleet-}; owner=${owner%-*}
            run_alive "$owner" || find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    done
    return 0
}
