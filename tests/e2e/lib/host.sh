# shellcheck shell=bash
# Host-side plumbing for the exporterctl end-to-end harness:
# package install, rootfs cache, container boot and teardown.
# Sourced by run.sh; expects E2E_DIR, CACHE_DIR, WORK to be set.

# Host python: Debian's, not a slow version-manager shim, when present.
py() { if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi; }

log()  { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { log "FATAL: $*"; exit 1; }

# The release binary of the checkout at $REPO ($CARGO_TARGET_DIR, else
# ./target), built when missing; what both suites test when given none.
default_release_binary() {
    local tdir=${CARGO_TARGET_DIR:-target}
    case $tdir in /*) ;; *) tdir="$REPO/$tdir" ;; esac
    if [ ! -x "$tdir/release/exporterctl" ]; then
        log "no $tdir/release/exporterctl: running cargo build --release"
        (cd "$REPO" && cargo build --release) >&2 || return 1
    fi
    echo "$tdir/release/exporterctl"
}

# ---------------------------------------------------------------- install
HOST_PKGS=(systemd-container mmdebstrap curl util-linux python3 ca-certificates)

install_host_packages() {
    local missing=() p
    for p in "${HOST_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "host packages already installed"
        return 0
    fi
    log "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- rootfs
# Bump ROOTFS_VERSION whenever the content below changes.
ROOTFS_VERSION=v1
ROOTFS_PKGS=systemd,systemd-sysv,dbus,curl,ca-certificates,nginx,mariadb-server,prometheus-node-exporter,prometheus-nginx-exporter,prometheus-mysqld-exporter,prometheus,python3,procps,iproute2,libssl3

# What every test container's tree gets (this suite's and the fleet's,
# tests/fleet/lib/fleet-host.sh): no hostname, the services named after the
# tree masked (Debian's own exporter and prometheus units listen on the
# default ports), the timers that only add noise or load in a throwaway
# container masked, nginx's stub_status on 127.0.0.1:8080 (the default site
# stays on :80), journald in memory.
customize_common_rootfs() {
    local d=$1 u
    shift
    rm -f "$d/etc/hostname"
    for u in "$@"; do
        ln -sf /dev/null "$d/etc/systemd/system/$u.service"
        rm -f "$d/etc/systemd/system/multi-user.target.wants/$u.service"
    done
    for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
             prometheus-node-exporter-apt.timer prometheus-node-exporter-ipmitool-sensor.timer \
             prometheus-node-exporter-mellanox-hca-temp.timer prometheus-node-exporter-nvme.timer \
             prometheus-node-exporter-smartmon.timer systemd-tmpfiles-clean.timer; do
        ln -sf /dev/null "$d/etc/systemd/system/$u"
        rm -f "$d/etc/systemd/system/timers.target.wants/$u"
    done
    cat >"$d/etc/nginx/conf.d/stub_status.conf" <<'NGX'
server {
    listen 127.0.0.1:8080;
    server_name _;
    location /stub_status { stub_status; }
}
NGX
    mkdir -p "$d/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\n' >"$d/etc/systemd/journald.conf.d/e2e.conf"
}

# Customise a freshly debootstrapped tree (runs on the host, tree is a plain dir).
customize_rootfs() {
    local d=$1
    customize_common_rootfs "$d" prometheus prometheus-node-exporter prometheus-nginx-exporter \
        prometheus-mysqld-exporter

    # MariaDB: the exporter user is created at every boot by a oneshot unit
    # ordered after mariadb.service (idempotent SQL; --volatile=overlay
    # throws the data away at shutdown anyway). is-system-running --wait
    # waits for it, so scenarios start with a usable database.
    mkdir -p "$d/usr/lib/exporterctl-e2e" "$d/etc/mysqld_exporter"
    cat >"$d/usr/lib/exporterctl-e2e/db-setup.sql" <<'SQL'
CREATE USER IF NOT EXISTS 'exporter'@'localhost' IDENTIFIED BY 'e2e-exporter-pw' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'localhost';
-- MariaDB >= 10.5 split SHOW SLAVE STATUS off REPLICATION CLIENT (now BINLOG MONITOR).
GRANT SLAVE MONITOR ON *.* TO 'exporter'@'localhost';
FLUSH PRIVILEGES;
SQL
    cat >"$d/etc/systemd/system/exporterctl-e2e-db-setup.service" <<'UNIT'
[Unit]
Description=exporterctl e2e: create the MariaDB exporter user
Requires=mariadb.service
After=mariadb.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for i in $(seq 1 60); do mariadb -e "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done; exec mariadb < /usr/lib/exporterctl-e2e/db-setup.sql'

[Install]
WantedBy=multi-user.target
UNIT
    ln -sf /etc/systemd/system/exporterctl-e2e-db-setup.service \
        "$d/etc/systemd/system/multi-user.target.wants/exporterctl-e2e-db-setup.service"
    # mysqld_exporter 0.14 reads this with --config.my-cnf=PATH.
    cat >"$d/etc/mysqld_exporter/.my.cnf" <<'CNF'
[client]
user=exporter
password=e2e-exporter-pw
socket=/run/mysqld/mysqld.sock
CNF
    chroot "$d" chown root:prometheus /etc/mysqld_exporter/.my.cnf
    chmod 0640 "$d/etc/mysqld_exporter/.my.cnf"

    rootfs_stamp >"$d/etc/exporterctl-e2e-rootfs"
}

# The stamp identifies what built the tree: a cached rootfs whose stamp
# differs (package list or customisation changed) is rebuilt.
rootfs_stamp() {
    { echo "$ROOTFS_VERSION $ROOTFS_PKGS"; declare -f customize_rootfs customize_common_rootfs; } | sha256sum | cut -c1-16
}

# cached_rootfs DIR PKGS CUSTOMIZE STAMP_NAME STAMP: a Debian tree with
# PKGS at DIR, built once (into a temporary directory, customised by the
# function CUSTOMIZE, which writes DIR/etc/STAMP_NAME, renamed into place
# when complete) and rebuilt when that stamp is not STAMP. This suite's
# rootfs and the fleet's (tests/fleet/lib/fleet-host.sh) are built so.
cached_rootfs() {
    local dir=$1 pkgs=$2 customize=$3 stamp_name=$4 stamp=$5 tmp t0=$SECONDS
    if [ -f "$dir/etc/$stamp_name" ]; then
        if [ "$(cat "$dir/etc/$stamp_name")" = "$stamp" ]; then
            log "using cached rootfs $dir"
            return 0
        fi
        log "cached rootfs $dir is stale (customisation changed): rebuilding"
    fi
    mkdir -p "$(dirname "$dir")"
    # Remove leftovers of an interrupted build (never a completed rootfs).
    rm -rf "$dir".tmp.* "$dir"
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    log "building rootfs into $tmp (takes ~1-2 min)"
    if ! mmdebstrap --quiet --variant=minbase --include="$pkgs" \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            bookworm "$tmp" >"$WORK/mmdebstrap.log" 2>&1; then
        tail -n 40 "$WORK/mmdebstrap.log" >&2
        rm -rf "$tmp"
        die "mmdebstrap failed"
    fi
    "$customize" "$tmp"
    mv -T "$tmp" "$dir"
    log "rootfs built in $((SECONDS - t0)) s ($(du -sh "$dir" | cut -f1))"
}

# ensure_rootfs -> sets ROOTFS
ensure_rootfs() {
    ROOTFS="$CACHE_DIR/rootfs-$ROOTFS_VERSION"
    cached_rootfs "$ROOTFS" "$ROOTFS_PKGS" customize_rootfs exporterctl-e2e-rootfs "$(rootfs_stamp)"
}

# ---------------------------------------------------------------- locking
# One run at a time per machine (one container, one set of payload cgroups).
# Whatever an earlier run left behind (killed with SIGKILL, so no trap ran)
# is stale once we hold the lock: clean it up before booting.
acquire_run_lock() {
    # A pid file, not a held flock: a lock fd would be inherited by nspawn and
    # the scraper and outlive a run killed with SIGKILL. flock only makes the
    # check-and-write atomic; its fd is closed right after.
    mkdir -p "$CACHE_DIR"
    local pidfile="$CACHE_DIR/run.pid" other waited=0
    while :; do
        exec 9>"$CACHE_DIR/run.pid.lock"
        flock -w 60 9 || die "could not lock $CACHE_DIR/run.pid.lock"
        other=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$other" ] && [ "$other" != $$ ] && kill -0 "$other" 2>/dev/null &&
            tr '\0' ' ' <"/proc/$other/cmdline" 2>/dev/null | grep -q 'tests/e2e/run\.sh'; then
            exec 9>&-
            [ "$waited" = 0 ] && log "another e2e run (pid $other) is in progress: waiting (up to 15 min)"
            waited=$((waited + 1))
            [ "$waited" -lt 900 ] || die "another e2e run (pid $other) still holds $pidfile"
            sleep 1
            continue
        fi
        echo $$ >"$pidfile"
        exec 9>&-
        RUN_PIDFILE=$pidfile
        return 0
    done
}

release_run_lock() {
    if [ -n "${RUN_PIDFILE:-}" ] && [ "$(cat "$RUN_PIDFILE" 2>/dev/null)" = $$ ]; then
        rm -f "$RUN_PIDFILE"
    fi
}

cleanup_stale_runs() {
    local pid args d
    for pid in $(pgrep -x systemd-nspawn 2>/dev/null); do
        args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        case $args in
            *" -M exporterctl-e2e-"*)
                log "stopping a stale e2e container (nspawn pid $pid)"
                kill -TERM "$pid" 2>/dev/null || true
                for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null || true
                ;;
        esac
    done
    # a scraper of a killed run (it is bounded anyway, but holds a dead netns)
    for pid in $(pgrep -f 'tests/e2e/tools/scraper\.py run .*--stop-file /tmp/exporterctl-e2e\.' 2>/dev/null); do
        log "stopping a stale scraper (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    done
    for d in /run/systemd/nspawn/propagate/exporterctl-e2e-*; do
        [ -e "$d" ] && rm -rf "$d"
    done
    local owner
    for d in /tmp/exporterctl-e2e.*; do
        [ -d "$d" ] && [ "$d" != "${WORK:-}" ] || continue
        # Another run waiting for the lock made its directory already: keep it.
        owner=$(cat "$d/owner.pid" 2>/dev/null || true)
        if [[ "$owner" =~ ^[0-9]+$ ]] && [ "$owner" -gt 1 ] && [ -r "/proc/$owner/cmdline" ] &&
            tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -q 'tests/e2e/run\.sh'; then
            continue
        fi
        log "removing stale $d"
        rm -rf "$d"
    done
    remove_payload_cgroups
    rm -f "$CACHE_DIR"/.#rootfs-*.lck
}

# ---------------------------------------------------------------- container
CT_NAME=""
NSPAWN_PID=""
LEADER=""

own_cgroup_v2() { sed -n 's/^0:://p' /proc/self/cgroup; }
own_cgroup_v1_systemd() { sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup; }

boot_container() {
    local share=$1 releases=$2
    CT_NAME="exporterctl-e2e-$$"
    log "booting container $CT_NAME"
    systemd-nspawn -q -D "$ROOTFS" -M "$CT_NAME" --boot --register=no --keep-unit \
        --volatile=overlay --private-network --console=read-only \
        --bind-ro="$share:/host" --bind-ro="$releases:/srv/releases" \
        </dev/null >"$WORK/nspawn.log" 2>&1 &
    NSPAWN_PID=$!
    local i pid
    for i in $(seq 1 300); do
        for pid in $(pgrep -P "$NSPAWN_PID" 2>/dev/null); do
            if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then LEADER=$pid; break 2; fi
        done
        kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$WORK/nspawn.log" >&2; die "systemd-nspawn exited early"; }
        sleep 0.1
    done
    [ -n "$LEADER" ] || die "container PID 1 did not appear"
    # PID 1 exists a moment before its private bus socket does: retry
    # until is-system-running can connect, then let it wait for boot.
    local state=""
    for i in $(seq 1 300); do
        state=$(timeout 120 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>&1) || true
        case $state in *"Failed to connect"*|"") sleep 0.1 ;; *) break ;; esac
    done
    if [ "$state" != running ]; then
        ct systemctl --failed --no-pager >&2 || true
        ct journalctl -b --no-pager -p warning -n 60 >&2 || true
        die "container did not reach 'running' (state: $state)"
    fi
    log "container up (leader pid $LEADER)"
}

# Run a command inside the container (all namespaces).
# A clean environment: nothing of the host's (cargo, pyenv, RUST_LOG...) leaks in.
ct() {
    nsenter -t "$LEADER" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb RUST_BACKTRACE=1 ${E2E_RUST_LOG:+RUST_LOG=$E2E_RUST_LOG} "$@"
}
# Run a host command in the container's network namespace only.
ct_net() { nsenter -t "$LEADER" -n "$@"; }

teardown_container() {
    [ -n "$NSPAWN_PID" ] || return 0
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$NSPAWN_PID" 2>/dev/null; then
            log "nspawn did not stop on TERM, sending KILL"
            kill -KILL "$NSPAWN_PID" 2>/dev/null || true
        fi
    fi
    wait "$NSPAWN_PID" 2>/dev/null || true
    remove_payload_cgroups
    # nspawn's image lock file beside the rootfs directory
    [ -n "${ROOTFS:-}" ] && rm -f "$(dirname "$ROOTFS")/.#$(basename "$ROOTFS").lck"
    [ -n "$CT_NAME" ] && rm -rf "/run/systemd/nspawn/propagate/$CT_NAME"
    rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null || true
    NSPAWN_PID=""
    LEADER=""
}

# --keep-unit leaves empty 'payload' (and 'supervisor') cgroups below our own
# cgroup; rmdir only ever removes empty ones.
remove_payload_cgroups() {
    local cg base
    for base in "/sys/fs/cgroup/unified$(own_cgroup_v2)" "/sys/fs/cgroup$(own_cgroup_v2)" \
                "/sys/fs/cgroup/systemd$(own_cgroup_v1_systemd)"; do
        base=${base%/}
        for cg in "$base/payload" "$base/supervisor"; do
            [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        done
    done
}
