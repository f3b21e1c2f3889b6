# shellcheck shell=bash
# The Debian package scenarios (run.sh --deb PATH): install the .deb with
# apt before the suite, which then drives /usr/bin/exporterctl; at the end,
# the gc service and timer, an upgrade and a purge, none of which may touch
# the store, the generations or any exporter.

GC_UNITS="/lib/systemd/system/exporterctl-gc.service /lib/systemd/system/exporterctl-gc.timer"

# make_upgrade_deb DEB OUT: the same package with a higher version, to upgrade to.
make_upgrade_deb() {
    local tree
    tree=$(mktemp -d "$WORK/upgrade-deb.XXXXXX")
    dpkg-deb -R "$1" "$tree/root"
    sed -i 's/^Version: .*/&+e2e1/' "$tree/root/DEBIAN/control"
    dpkg-deb --root-owner-group -b "$tree/root" "$2" >/dev/null
    rm -rf "$tree"
}

# ct_apt ARGS...: apt-get inside the container (no network: the package's
# dependencies are already in the rootfs). The rootfs excludes man pages and
# docs from every package (mmdebstrap --dpkgopt); ours are let through, so
# that what the package installs can be checked (their directories too:
# dpkg's patterns match directories, and * matches /).
ct_apt() {
    ct env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends \
        -o 'Dpkg::Options::=--path-include=/usr/share/man/man1' \
        -o 'Dpkg::Options::=--path-include=/usr/share/man/man1/exporterctl*' \
        -o 'Dpkg::Options::=--path-include=/usr/share/doc/exporterctl*' "$@"
}

# host_state_listing FILE: everything the package must leave alone: the
# state directory and the links in /usr/local/bin (names, types, modes,
# sizes, mtimes, targets), and the units in /etc/systemd/system but the gc
# timer's own enablement link and timers.target.wants/ (which goes with the
# link when it was the only one), nor directory mtimes there.
host_state_listing() {
    ct sh -c 'find /var/lib/exporterctl /usr/local/bin -printf "%p %y %m %s %T@ %l\n"
        find /etc/systemd/system -path "*exporterctl-gc*" -prune -o -path /etc/systemd/system/timers.target.wants \
            -o -type d -printf "%p %y %m\n" -o -printf "%p %y %m %s %T@ %l\n"' | LC_ALL=C sort >"$1"
}
# assert_host_state_unchanged BEFORE WHAT
assert_host_state_unchanged() {
    host_state_listing "$1.now"
    if ! diff "$1" "$1.now" >"$1.diff"; then
        sed 's/^/      /' "$1.diff" | head -n 20
        fail "$2 changed the state directory, /usr/local/bin or /etc/systemd/system"
    fi
}

main_pids() {
    local n
    for n in node_exporter nginx_exporter mysqld_exporter; do printf '%s=%s ' "$n" "$(main_pid "$n.service")"; done
}

# ------------------------------------------------------------------ install
scenario_pkg_install() {
    info "apt-get install /host/$DEB_NAME"
    ct_apt install "/host/$DEB_NAME" >"$WORK/logs/apt-install.txt" 2>&1 \
        || { sed 's/^/      | /' "$WORK/logs/apt-install.txt"; fail "apt-get install /host/$DEB_NAME failed"; }
    [ "$(ct dpkg-query -W -f='${Status}' exporterctl)" = "install ok installed" ] || fail "exporterctl is not installed"
    [ "$(ct sh -c 'command -v exporterctl')" = /usr/bin/exporterctl ] || fail "exporterctl is not /usr/bin/exporterctl"
    ct /usr/bin/exporterctl --version | grep -q '^exporterctl ' || fail "/usr/bin/exporterctl --version"
    ct test -d /var/lib/exporterctl || fail "the package did not create /var/lib/exporterctl"
    [ -z "$(ct ls -A /usr/local/bin)" ] || fail "the package put something in /usr/local/bin: $(ct ls -A /usr/local/bin)"
    info "ok: installed $(ct dpkg-query -W -f='${Version}' exporterctl) as /usr/bin/exporterctl; /var/lib/exporterctl exists"

    local f
    for f in /usr/share/man/man1/exporterctl.1.gz /usr/share/man/man1/exporterctl-gc.1.gz \
             /usr/share/man/man1/exporterctl-store-verify.1.gz \
             /usr/share/bash-completion/completions/exporterctl /usr/share/zsh/vendor-completions/_exporterctl \
             /usr/share/fish/vendor_completions.d/exporterctl.fish /usr/share/doc/exporterctl/examples/phase1.yaml \
             /usr/share/doc/exporterctl/copyright /etc/default/exporterctl $GC_UNITS; do
        ct test -s "$f" || fail "the package did not install $f"
    done
    ct sh -c 'zcat /usr/share/man/man1/exporterctl.1.gz' | grep -q '^\.SH "EXIT STATUS"' || fail "exporterctl(1) has no EXIT STATUS section"
    # The installed bash completion really completes.
    local words
    words=$(ct bash -c 'source /usr/share/bash-completion/completions/exporterctl
        COMP_WORDS=(exporterctl ro); COMP_CWORD=1; _exporterctl exporterctl ro exporterctl; echo "${COMPREPLY[*]}"')
    [ "$words" = rollback ] || fail "bash completion of 'exporterctl ro' gave '$words', want rollback"
    info "ok: man pages, completions (bash completes 'ro' to rollback), example manifest, copyright"

    [ "$(ct systemctl is-enabled exporterctl-gc.timer 2>&1)" = disabled ] || fail "exporterctl-gc.timer is $(ct systemctl is-enabled exporterctl-gc.timer 2>&1), want disabled"
    [ "$(ct systemctl is-active exporterctl-gc.timer 2>&1)" = inactive ] || fail "exporterctl-gc.timer is active after install"
    local out
    # --man=no: the container has no man(1) to look up Documentation=man:
    # exporterctl-gc(1); that the page is installed is checked above.
    # shellcheck disable=SC2086
    out=$(ct systemd-analyze verify --man=no $GC_UNITS 2>&1) || fail "systemd-analyze verify failed: $out"
    if echo "$out" | grep -q 'exporterctl-gc'; then fail "systemd-analyze verify warns: $out"; fi
    info "ok: the gc timer is installed disabled; systemd-analyze verify passes for the service and the timer"
}

# ------------------------------------------------------------------ gc units, upgrade, purge
scenario_pkg_upgrade_purge() {
    local gens before pids out f
    gens=$(ct sh -c 'ls -1 /var/lib/exporterctl/generations | LC_ALL=C sort')

    info "exporterctl-gc.service with the packaged setting (90d): young generations stay"
    ct systemctl start exporterctl-gc.service || fail "exporterctl-gc.service failed: $(ct journalctl -u exporterctl-gc.service --no-pager -n 20)"
    [ "$(unit_prop exporterctl-gc.service Result)" = success ] || fail "exporterctl-gc.service result $(unit_prop exporterctl-gc.service Result)"
    ct journalctl -u exporterctl-gc.service --no-pager -o cat | sed 's/^/      | /' | tail -n 5
    [ "$(ct sh -c 'ls -1 /var/lib/exporterctl/generations | LC_ALL=C sort')" = "$gens" ] || fail "gc --older-than 90d deleted generations"
    # Earlier scenarios leave unreferenced store paths (garbage gc may take at
    # any age); what every kept generation needs must all still be there.
    xctl_ok store verify

    info "the service reads EXPORTERCTL_GC_OLDER_THAN from /etc/default/exporterctl"
    ct cp /etc/default/exporterctl /root/default.orig
    ct sh -c 'echo EXPORTERCTL_GC_OLDER_THAN=not-a-duration >>/etc/default/exporterctl'
    if ct systemctl start exporterctl-gc.service 2>/dev/null; then fail "gc ran with EXPORTERCTL_GC_OLDER_THAN=not-a-duration"; fi
    [ "$(unit_prop exporterctl-gc.service ExecMainStatus)" = 2 ] || fail "gc with a bad setting exited $(unit_prop exporterctl-gc.service ExecMainStatus), want 2 (bad input)"
    ct journalctl -u exporterctl-gc.service --no-pager -o cat | grep -q 'not-a-duration' || fail "the journal does not name the bad setting"
    ct cp /root/default.orig /etc/default/exporterctl
    ct systemctl reset-failed exporterctl-gc.service
    info "ok: a bad setting is refused (exit 2, named in the journal); restored"

    ct systemctl enable --now exporterctl-gc.timer 2>/dev/null || fail "cannot enable exporterctl-gc.timer"
    before=$WORK/logs/host-state-before-upgrade.txt
    host_state_listing "$before"
    pids=$(main_pids)

    info "upgrade: apt-get install /host/$UPGRADE_DEB_NAME"
    ct_apt install "/host/$UPGRADE_DEB_NAME" >"$WORK/logs/apt-upgrade.txt" 2>&1 \
        || { sed 's/^/      | /' "$WORK/logs/apt-upgrade.txt"; fail "the upgrade failed"; }
    case $(ct dpkg-query -W -f='${Version}' exporterctl) in *+e2e1) ;; *) fail "the upgrade did not install the new version" ;; esac
    assert_host_state_unchanged "$before" "the upgrade"
    [ "$(main_pids)" = "$pids" ] || fail "the upgrade restarted an exporter: $pids -> $(main_pids)"
    [ "$(ct systemctl is-enabled exporterctl-gc.timer)" = enabled ] || fail "the upgrade disabled the timer"
    [ "$(ct systemctl is-active exporterctl-gc.timer)" = active ] || fail "the upgrade stopped the timer"
    info "ok: state, links, units and exporter processes untouched; the enabled timer stays enabled and active"

    info "purge: apt-get purge exporterctl"
    out=$(ct_apt purge exporterctl 2>&1) || { echo "$out" | sed 's/^/      | /'; fail "apt-get purge failed"; }
    echo "$out" | grep -A6 'exporterctl: purged' | sed 's/^/      | /'
    echo "$out" | grep -q 'state directory /var/lib/exporterctl was left in place' || fail "the purge does not say where the store is"
    assert_host_state_unchanged "$before" "the purge"
    [ "$(main_pids)" = "$pids" ] || fail "the purge restarted an exporter: $pids -> $(main_pids)"
    for f in /usr/bin/exporterctl /etc/default/exporterctl /etc/systemd/system/timers.target.wants/exporterctl-gc.timer $GC_UNITS; do
        if ct test -e "$f" || ct test -L "$f"; then fail "$f is still there after the purge"; fi
    done
    local n
    for n in node_exporter nginx_exporter mysqld_exporter; do
        assert_link "$n"
        [ "$(unit_prop "$n.service" ActiveState)" = active ] || fail "$n.service is not active after the purge"
        [ "$(scrape "${PORT[$n]}" /dev/null)" = 200 ] || fail "$n /metrics not 200 after the purge"
    done
    info "ok: purged (binary, units, setting, the timer's enablement link gone); the store, generations and exporters untouched"
}
