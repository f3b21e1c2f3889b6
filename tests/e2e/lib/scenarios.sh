# shellcheck shell=bash
# The e2e scenarios. Each runs in a subshell (set -e) and fails via fail().
# Shared facts between scenarios are kept in $WORK/facts/<key> files.

M=/host/manifests
# Debian's nginx exporter reports its Debian revision as version: its e2e
# releases carry that version (see tools/make_releases.py).
NGINX_V1=0.11.0-1+b4
NGINX_V2=0.11.1-1+b4

fact_set() { printf '%s' "$2" >"$WORK/facts/$1"; }
fact_get() { cat "$WORK/facts/$1" 2>/dev/null || true; }

# ------------------------------------------------------------------ infra
scenario_infra() {
    info "nginx stub_status on 127.0.0.1:8080"
    ct curl -sf http://127.0.0.1:8080/stub_status | grep -q '^Active connections' \
        || fail "nginx stub_status does not answer"
    info "MariaDB login as the exporter user"
    local grants
    grants=$(ct mariadb --defaults-file=/etc/mysqld_exporter/.my.cnf -N -e 'SHOW GRANTS FOR CURRENT_USER()' 2>&1) \
        || fail "exporter cannot log in to MariaDB: $grants"
    echo "$grants" | grep -q 'PROCESS, REPLICATION CLIENT' || echo "$grants" | grep -q 'SELECT, PROCESS' \
        || fail "exporter grants look wrong: $grants"
    info "ok: $grants"

    info "release server: every archive matches index.json and its checksums file"
    local name ver path sha line sums
    for name in node_exporter nginx_exporter mysqld_exporter; do
        for ver in $(py -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$RELEASES/index.json" "$name"); do
            path=$(idx "$name" "$ver" url_path)
            sha=$(ct sh -c "curl -sf http://127.0.0.1:8999$path | sha256sum | cut -d' ' -f1")
            [ "$sha" = "$(idx "$name" "$ver" archive_sha256)" ] || fail "served $path has sha256 $sha"
            case $name in
                nginx_exporter) sums="${path%/*}/nginx-prometheus-exporter_${ver}_checksums.txt" ;;
                *) sums="${path%/*}/sha256sums.txt" ;;
            esac
            line=$(ct curl -sf "http://127.0.0.1:8999$sums" | grep -F "  ${path##*/}") || fail "$sums lacks ${path##*/}"
            [ "${line%% *}" = "$sha" ] || fail "$sums: wrong hash for ${path##*/}"
        done
    done
    [ "$(ct curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8999/prometheus/node_exporter/releases/download/v9.9.9/sha256sums.txt)" = 404 ] \
        || fail "missing release does not answer 404"
    info "ok: archives and checksum files consistent; unknown versions 404"

    info "real Debian exporters serve /metrics when started by hand (transient units, ports 191xx)"
    ct systemd-run -q --unit=e2e-probe-node --uid=prometheus /usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:19100
    ct systemd-run -q --unit=e2e-probe-nginx --uid=prometheus /usr/bin/prometheus-nginx-exporter \
        -nginx.scrape-uri=http://127.0.0.1:8080/stub_status -web.listen-address=127.0.0.1:19113
    ct systemd-run -q --unit=e2e-probe-mysqld --uid=prometheus /usr/bin/prometheus-mysqld-exporter \
        --config.my-cnf=/etc/mysqld_exporter/.my.cnf --web.listen-address=127.0.0.1:19104
    # and one repackaged v2 binary, straight from its archive
    ct sh -ec 'rm -rf /tmp/e2e-v2 && mkdir /tmp/e2e-v2 && curl -sf http://127.0.0.1:8999/prometheus/node_exporter/releases/download/v1.5.1/node_exporter-1.5.1.linux-amd64.tar.gz | tar -xz -C /tmp/e2e-v2'
    ct systemd-run -q --unit=e2e-probe-node-v2 /tmp/e2e-v2/node_exporter-1.5.1.linux-amd64/node_exporter --web.listen-address=127.0.0.1:19101
    local f="$WORK/logs/probe.txt"
    wait_http 19100 && wait_http 19113 && wait_http 19104 && wait_http 19101 || { ct systemctl --no-pager status 'e2e-probe-*' || true; fail "a hand-started exporter does not answer"; }
    scrape 19100 "$f" >/dev/null; [ "$(build_version "$f" node_exporter_build_info)" = 1.5.0 ] || fail "node 1.5.0 build_info: $(grep build_info "$f")"
    scrape 19101 "$f" >/dev/null; [ "$(build_version "$f" node_exporter_build_info)" = 1.5.1 ] || fail "patched node 1.5.1 build_info: $(grep build_info "$f")"
    scrape 19113 "$f" >/dev/null; grep -qx 'nginx_up 1' "$f" || fail "nginx exporter: $(grep -E '^nginx(exporter_build_info|_up)' "$f")"
    [ "$(build_version "$f" nginxexporter_build_info)" = 0.11.0-1+b4 ] || fail "nginx build_info: $(grep build_info "$f")"
    scrape 19104 "$f" >/dev/null; grep -qx 'mysql_up 1' "$f" || fail "mysqld exporter: $(grep -E '^mysql_up' "$f")"
    [ "$(build_version "$f" mysqld_exporter_build_info)" = 0.14.0 ] || fail "mysqld build_info: $(grep build_info "$f")"
    ct systemctl stop e2e-probe-node e2e-probe-nginx e2e-probe-mysqld e2e-probe-node-v2
    ct rm -rf /tmp/e2e-v2
    info "ok: node 1.5.0, patched node 1.5.1, nginx (nginx_up 1) and mysqld (mysql_up 1) serve /metrics"
}

# ------------------------------------------------------------------ 1
scenario_1_adopt() {
    info "hand-install node_exporter 1.5.0 with a hand-written unit"
    ct install -m 0755 /usr/bin/prometheus-node-exporter /usr/local/bin/node_exporter
    ct sh -c 'cat > /etc/systemd/system/node_exporter.service' <<'UNIT'
[Unit]
Description=Node Exporter (installed by hand)
After=network.target

[Service]
User=prometheus
ExecStart=/usr/local/bin/node_exporter --web.listen-address=127.0.0.1:9100
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
    ct systemctl daemon-reload
    ct systemctl enable -q --now node_exporter.service
    wait_http 9100 || fail "hand-installed node_exporter does not answer"

    xctl_ok adopt "$M/adopt.yaml"
    xctl_ok generations --json
    json_has_generation "$LAST_OUT" 1 || fail "generations --json shows no generation 1"
    assert_link node_exporter
    local t sha
    t=$(link_target node_exporter)
    sha=$(sha_of "$t")
    [ "$sha" = "$(idx node_exporter 1.5.0 binary_sha256)" ] || fail "adopted store binary $t has sha256 $sha, not the hand-installed 1.5.0"
    fact_set gen1_node "$t"
    [ "$(unit_prop node_exporter.service ActiveState)" = active ] || fail "node_exporter.service not active after adopt"
    local f="$WORK/logs/m.txt"
    [ "$(scrape 9100 "$f")" = 200 ] || fail "node_exporter /metrics not 200 after adopt"
    [ "$(build_version "$f" node_exporter_build_info)" = 1.5.0 ] || fail "node_exporter no longer reports 1.5.0"
    info "ok: generation 1; /usr/local/bin/node_exporter -> $t; service active, /metrics 200"
}

# ------------------------------------------------------------------ 2
scenario_2_switch() {
    xctl_ok switch "$M/gen-a.yaml" --mode fast --yes
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    local n pid uid want_uid
    want_uid=$(ct id -u prometheus)
    for n in node_exporter nginx_exporter mysqld_exporter; do
        assert_link "$n"
        # manifest: manage_unit: true, user: prometheus
        pid=$(main_pid "$n.service")
        [ "$(unit_prop "$n.service" User)" = prometheus ] || fail "$n.service has User=$(unit_prop "$n.service" User), want prometheus"
        uid=$(ct awk '/^Uid:/ {print $2}' "/proc/$pid/status")
        [ "$uid" = "$want_uid" ] || fail "$n (pid $pid) runs as uid $uid, want prometheus ($want_uid)"
        fact_set "a_exe_$n" "$(exe_of "$(main_pid "$n.service")")"
        fact_set "a_pid_$n" "$(main_pid "$n.service")"
    done
}

# ------------------------------------------------------------------ 3
scenario_3_noop() {
    xctl_ok switch "$M/gen-a.yaml" --mode fast --yes
    local n pid
    for n in node_exporter nginx_exporter mysqld_exporter; do
        pid=$(main_pid "$n.service")
        [ "$pid" = "$(fact_get "a_pid_$n")" ] || fail "$n.service MainPID changed from $(fact_get "a_pid_$n") to $pid on a no-op switch"
    done
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    info "ok: MainPIDs unchanged"

    # A hand-written unit that does not exist: refused before anything moves.
    local rc=0
    xctl switch "$M/missing-unit.yaml" --mode fast --yes || rc=$?
    [ "$rc" -ne 0 ] || fail "a switch to a missing hand-written unit exited 0"
    grep -q "e2e-no-such-unit.service cannot be started: systemd says LoadState=not-found" "$LAST_OUT.err" \
        || fail "the refusal does not name the unit and its LoadState"
    for n in node_exporter nginx_exporter mysqld_exporter; do
        pid=$(main_pid "$n.service")
        [ "$pid" = "$(fact_get "a_pid_$n")" ] || fail "$n.service restarted although the switch was refused"
        assert_link "$n"
    done
    info "ok: a missing hand-written unit is refused up front, nothing restarted"
}

# ------------------------------------------------------------------ 4
scenario_4_broken() {
    local rc=0 pid_before
    # The default, --preflight warn: 1.5.9 started beside the running 1.5.1
    # exits, while 1.5.1 started the same way serves. The step cannot
    # succeed: it is not attempted, and as the only one, the switch is
    # refused with nothing touched.
    pid_before=$(main_pid node_exporter.service)
    xctl switch "$M/broken.yaml" --mode fast --yes || rc=$?
    [ "$rc" = 1 ] || fail "switch to a broken release under the default preflight exited $rc, want 1"
    grep -Eq "node_exporter +1\.5\.[0-9] → 1\.5\.9: FAILS" "$LAST_OUT" \
        || fail "the preflight (warn) did not report the broken release before the flip"
    grep -q "broken on purpose" "$LAST_OUT" || fail "the preflight does not quote the broken release's own output"
    grep -q "the running 1.5.1, started the same way, serves" "$LAST_OUT" \
        || fail "the preflight does not say the running release passed the same start (its control)"
    grep -q "preflight: refused (node_exporter cannot start here): nothing was changed" "$LAST_OUT" \
        || fail "the default preflight did not refuse a release that cannot start"
    [ "$(main_pid node_exporter.service)" = "$pid_before" ] \
        || fail "node_exporter was restarted although the preflight refused the switch"
    ct test ! -e "$STATE/journal.json" || fail "a refused switch left a journal"
    info "ok: the default preflight refused the crashing release, node_exporter untouched (MainPID $pid_before)"

    # --preflight off: the health check after the flip is the net (for what
    # a preflight cannot see, e.g. a crash under the unit's sandbox only).
    rc=0
    xctl switch "$M/broken.yaml" --mode fast --yes --preflight off || rc=$?
    [ "$rc" -ne 0 ] || fail "switch to a broken release exited 0"
    # The step's reason quotes what the crashed release printed (from its
    # journal).
    grep -Eq "failed \([0-9]+ ms\): .*broken on purpose" "$LAST_OUT" \
        || fail "the step's failure does not quote the broken release's own output"
    assert_serving node_exporter 1.5.1
    local exe
    exe=$(exe_of "$(main_pid node_exporter.service)")
    [ "$exe" = "$(fact_get a_exe_node_exporter)" ] || fail "node_exporter runs $exe, want the previous store path $(fact_get a_exe_node_exporter)"
    assert_link node_exporter
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    local st gen
    xctl status --json || true
    st=$LAST_OUT
    xctl generations --json || true
    gen=$LAST_OUT
    info "failure of node_exporter as recorded in status/generations --json:"
    json_failure_for node_exporter "$st" "$gen" \
        || fail "neither 'status --json' nor 'generations --json' records a failure naming node_exporter"
    info "ok: exit $rc, previous node_exporter serves again, failure recorded"
}

# ------------------------------------------------------------------ 5
scenario_5_rollback() {
    info "setup: switch to gen-b.yaml so that there are three good generations"
    xctl_ok switch "$M/gen-b.yaml" --mode fast --yes
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V2"
    assert_serving mysqld_exporter 0.14.1
    local l0 l1 l2
    l0=$(release_log_lines)
    xctl_ok rollback
    l1=$(release_log_lines)
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    local n exe
    for n in nginx_exporter mysqld_exporter; do
        exe=$(exe_of "$(main_pid "$n.service")")
        [ "$exe" = "$(fact_get "a_exe_$n")" ] || fail "$n runs $exe after rollback, want $(fact_get "a_exe_$n")"
    done
    xctl_ok rollback --to 1
    l2=$(release_log_lines)
    # Exporters that generation 1 does not have are gone on purpose: tell the
    # scrape-gap report, so that their absence is not counted as downtime.
    for n in nginx_exporter mysqld_exporter; do
        ct test -e "/usr/local/bin/$n" || echo "$(date +%s.%N) ABSENT $n" >>"$MARKERS"
        # Their generated units were disabled before their files went.
        ! ct test -L "/etc/systemd/system/multi-user.target.wants/$n.service" \
            || fail "multi-user.target.wants/$n.service left behind (dangling) after its unit went"
    done
    local want
    want=$(fact_get gen1_node)
    assert_serving node_exporter 1.5.0
    [ "$(link_target node_exporter)" = "$want" ] || fail "/usr/local/bin/node_exporter -> $(link_target node_exporter), want generation 1's $want"
    exe=$(exe_of "$(main_pid node_exporter.service)")
    [ "$exe" = "$want" ] || fail "node_exporter runs $exe, want generation 1's $want"
    # generation 1 adopted the hand-written unit: it must be back too
    local desc
    desc=$(unit_prop node_exporter.service Description)
    [ "$desc" = "Node Exporter (installed by hand)" ] \
        || fail "after rollback --to 1 node_exporter.service is '$desc', not the adopted hand-written unit"
    info "ok: node_exporter.service is the adopted hand-written unit again"
    if [ "$l2" != "$l0" ]; then
        ct sed -n "$((l0 + 1)),\$p" /run/e2e-release-server.log | sed 's/^/      /'
        fail "the release server saw $((l2 - l0)) request(s) during rollback ($((l1 - l0)) during 'rollback', $((l2 - l1)) during 'rollback --to 1')"
    fi
    info "ok: no request to the release server during either rollback"
}

# ------------------------------------------------------------------ 6
scenario_6_kill_resume() {
    info "setup: switch to gen-a.yaml, so all three exporters run whichever way resume goes"
    xctl_ok switch "$M/gen-a.yaml" --mode fast --yes
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    local attempt manifest mode result
    for attempt in 1 2 3; do
        # gen-a -> gen-b changes nginx and mysqld. Attempt 1 kills right after
        # the first symlink flip; later ones (alternating the direction) kill
        # as soon as the journal exists, in case a switch is too quick to catch.
        if [ "$attempt" = 2 ]; then manifest="gen-a.yaml"; else manifest="gen-b.yaml"; fi
        if [ "$attempt" = 1 ]; then mode=${E2E_KILL_TRIGGER:-flip}; else mode=journal; fi
        info "attempt $attempt: switch $manifest in the background, kill -9 it (trigger: $mode)"
        result=$(ct bash -c '
            manifest=$1 mode=$2 xctl=$3 J=/var/lib/exporterctl/journal.json
            declare -A before
            # /usr/local/bin/X may be a stable link into a profile: compare
            # what it finally resolves to.
            for l in /usr/local/bin/*; do before[$l]=$(readlink -f "$l"); done
            "$xctl" switch "/host/manifests/$manifest" --mode fast --yes >/tmp/e2e-killed-switch.log 2>&1 &
            pid=$!
            end=$((SECONDS + 120))
            while [ $SECONDS -lt $end ]; do
                if [ -e $J ]; then
                    hit=0
                    [ "$mode" = journal ] && hit=1
                    for l in /usr/local/bin/*; do [ "$(readlink -f "$l")" != "${before[$l]:-}" ] && { hit=1; break; }; done
                    if [ $hit = 1 ] && kill -9 $pid 2>/dev/null; then
                        wait $pid 2>/dev/null; echo killed; exit 0
                    fi
                fi
                if ! kill -0 $pid 2>/dev/null; then wait $pid; echo "finished rc=$?"; exit 0; fi
            done
            kill -9 $pid; echo timeout' _ "$manifest" "$mode" "$XCTL")
        info "  -> $result"
        ct sed 's/^/      | /' /tmp/e2e-killed-switch.log | head -n 30
        [ "$result" = killed ] && break
        [ "$result" = timeout ] && fail "switch neither created the journal nor finished in 120 s"
    done
    [ "$result" = killed ] || fail "could not interrupt a switch in 3 attempts (switch finished too quickly)"
    ct test -e "$STATE/journal.json" || fail "no $STATE/journal.json left after kill -9 mid-switch"
    info "state after kill -9:"
    ct sh -c 'for l in /usr/local/bin/*; do echo "$l -> $(readlink "$l") => $(readlink -f "$l")"; done' | sed 's/^/      /'

    xctl status --json || true
    local marker
    marker=$(json_inflight "$LAST_OUT") || fail "status --json does not report the interrupted switch before resume"
    info "ok: before resume, status reports it ($marker)"

    xctl_ok resume
    ct test ! -e "$STATE/journal.json" || fail "$STATE/journal.json still exists after resume"
    xctl_ok status --json
    if json_inflight "$LAST_OUT"; then fail "status --json still reports an in-flight switch"; fi
    local l n exe target count=0
    for l in $(ct sh -c 'ls /usr/local/bin'); do
        n=$l
        count=$((count + 1))
        ct test -e "/usr/local/bin/$n" || fail "/usr/local/bin/$n does not resolve after resume"
        assert_link "$n"
        [ -n "${PORT[$n]:-}" ] || continue
        [ "$(unit_prop "$n.service" ActiveState)" = active ] || fail "$n.service is $(unit_prop "$n.service" ActiveState) after resume"
        exe=$(exe_of "$(main_pid "$n.service")")
        target=$(link_target "$n")
        [ "$exe" = "$target" ] || fail "$n.service runs $exe but /usr/local/bin/$n -> $target"
        local f="$WORK/logs/m.txt"
        [ "$(scrape "${PORT[$n]}" "$f")" = 200 ] || fail "$n /metrics not 200 after resume"
        info "ok: $n active, runs $exe (= link target), reports $(build_version "$f" "${BUILD_INFO[$n]}")"
    done
    [ "$count" -ge 3 ] || fail "only $count exporter(s) left in /usr/local/bin after resume, want all 3"

    # SIGTERM (what Ctrl-C does, for a job that runs in the background): the
    # step in progress finishes, the rest is skipped, nothing needs `resume`.
    # One at a time (--parallel 1): side by side, both steps may already be
    # in flight when the signal lands, and then both finish (nothing skipped).
    xctl_ok switch "$M/gen-b.yaml" --mode fast --yes
    info "SIGTERM to a switch gen-b -> gen-a as soon as its journal exists"
    result=$(ct bash -c '
        J=/var/lib/exporterctl/journal.json
        "$1" switch /host/manifests/gen-a.yaml --mode fast --parallel 1 --yes >/tmp/e2e-stopped-switch.log 2>&1 &
        pid=$!
        end=$((SECONDS + 120))
        while [ $SECONDS -lt $end ] && [ ! -e $J ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
        kill -TERM $pid 2>/dev/null
        wait $pid; echo "rc=$?"' _ "$XCTL")
    info "  -> $result"
    ct sed 's/^/      | /' /tmp/e2e-stopped-switch.log | head -n 20
    [ "$result" = "rc=130" ] || fail "a switch stopped by SIGTERM should exit 130 ($result)"
    ct test ! -e "$STATE/journal.json" || fail "a stopped switch left $STATE/journal.json behind"
    xctl_ok status --json
    grep -q '"status": "stopped"' "$LAST_OUT" || fail "status --json does not report the switch as stopped"
    for n in node_exporter nginx_exporter mysqld_exporter; do
        assert_link "$n"
        [ "$(unit_prop "$n.service" ActiveState)" = active ] || fail "$n.service is not active after a stopped switch"
    done
    xctl_ok switch "$M/gen-a.yaml" --mode fast --yes
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    info "ok: stopped cleanly (exit 130, status stopped, every unit active); the next switch carried on"
}

# ------------------------------------------------------------------ 7
scenario_7_gc() {
    local before after n t
    declare -A keep_sha=()
    before=$(store_count)
    for n in $(ct sh -c 'ls /usr/local/bin'); do
        t=$(link_target "$n")
        keep_sha[$n]="$t $(sha_of "$t")"
    done
    ct sh -c "ls -1A $STORE" >"$WORK/logs/store-before.txt"
    xctl_ok gc --keep 1 --dry-run
    [ "$(store_count)" = "$before" ] || fail "gc --dry-run changed the store ($before -> $(store_count) entries)"
    xctl_ok gc --keep 1
    after=$(store_count)
    ct sh -c "ls -1A $STORE" >"$WORK/logs/store-after.txt"
    info "store entries: $before before, $after after"
    [ "$after" -lt "$before" ] || fail "gc --keep 1 removed nothing ($before -> $after entries)"
    info "removed: $(comm -23 "$WORK/logs/store-before.txt" "$WORK/logs/store-after.txt" | tr '\n' ' ')"
    for n in "${!keep_sha[@]}"; do
        ct test -e "/usr/local/bin/$n" || fail "/usr/local/bin/$n dangles after gc (-> $(ct readlink "/usr/local/bin/$n"))"
        t=$(link_target "$n")
        [ "$t ${keep_sha[$n]#* }" = "${keep_sha[$n]}" ] || fail "current $n changed: was ${keep_sha[$n]}, now $t"
        [ "$(sha_of "$t")" = "${keep_sha[$n]#* }" ] || fail "current store binary $t was modified"
    done
    local old
    old=$(fact_get gen1_node)
    if [ "$(link_target node_exporter)" != "$old" ] && ct test -e "$old"; then
        info "note: generation 1's node_exporter ($old) survived gc --keep 1"
    fi
    xctl_ok store verify
    for n in "${!keep_sha[@]}"; do
        [ -n "${PORT[$n]:-}" ] || continue
        [ "$(scrape "${PORT[$n]}" /dev/null)" = 200 ] || fail "$n /metrics not 200 after gc"
        [ "$(unit_prop "$n.service" ActiveState)" = active ] || fail "$n.service not active after gc"
        ct test -e "/proc/$(main_pid "$n.service")/exe" || fail "$n.service's running binary was deleted by gc"
    done
    info "ok: current store paths untouched, store verify ok, services answer"
}

# ------------------------------------------------------------------ 8
# families FILE: the metric families a scrape declares (`# TYPE` lines)
families() { sed -n 's/^# TYPE \([^ ]*\) .*/\1/p' "$1" | sort -u; }
# collectors FILE VALUE: node collectors whose node_scrape_collector_success is VALUE
collectors() { sed -n "s/^node_scrape_collector_success{collector=\"\\([^\"]*\\)\"} $2\$/\\1/p" "$1" | sort -u; }

# same_as_root NAME ROOTFILE FILE: the sandboxed scrape has every family the
# root one has, and (node) every collector that succeeds as root succeeds.
same_as_root() {
    local n=$1 r=$2 f=$3 missing
    missing=$(comm -23 <(families "$r") <(families "$f"))
    if [ -n "$missing" ]; then
        ct journalctl -q -o cat -u "$n.service" | grep -i 'collector failed' | tail -n 2 | cut -c1-600 | sed 's/^/      /' || true
        fail "sandboxed $n lacks metric families it serves as root: $(echo $missing)"
    fi
    info "ok: $n: $(families "$f" | wc -l) metric families, every one of the $(families "$r" | wc -l) it serves as root"
    [ "$n" = node_exporter ] || return 0
    [ -n "$(collectors "$r" 1)" ] || fail "no node collector succeeded as root"
    missing=$(comm -23 <(collectors "$r" 1) <(collectors "$f" 1))
    [ -z "$missing" ] || fail "node collectors that succeed as root but not sandboxed: $(echo $missing)"
    info "ok: node collectors succeeding: $(collectors "$f" 1 | wc -l) sandboxed, $(collectors "$r" 1 | wc -l) as root; failing in both (the container has no such hardware): $(echo $(collectors "$r" 0))"
}

# rated UNIT: systemd-analyze security of the loaded unit, at most 2.0
rated() {
    local line score
    line=$(ct systemd-analyze security --no-pager "$1" | tail -n 1)
    score=$(echo "$line" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    info "systemd-analyze security: $line"
    awk -v r="$score" 'BEGIN { exit !(r != "" && r <= 2.0) }' || fail "$1 rates '$score' (want <= 2.0)"
}

scenario_8_sandbox() {
    info "setup: gen-a.yaml (runs as User=prometheus) is the starting point"
    xctl_ok switch "$M/gen-a.yaml" --mode fast --yes
    local n f r pid uid
    info "reference: the same store binaries as root, unsandboxed (transient units, ports 192xx)"
    # node twice: as upstream ships it (systemd collector off) and as Debian does (on)
    ct systemd-run -q --unit=e2e-root-node_exporter /usr/local/bin/node_exporter \
        --no-collector.systemd --web.listen-address=127.0.0.1:19200
    ct systemd-run -q --unit=e2e-root-node_bus /usr/local/bin/node_exporter \
        --collector.systemd --web.listen-address=127.0.0.1:19201
    ct systemd-run -q --unit=e2e-root-nginx_exporter /usr/local/bin/nginx_exporter \
        --nginx.scrape-uri=http://127.0.0.1:8080/stub_status --web.listen-address=127.0.0.1:19213
    ct systemd-run -q --unit=e2e-root-mysqld_exporter /usr/local/bin/mysqld_exporter \
        --config.my-cnf=/etc/mysqld_exporter/.my.cnf --web.listen-address=127.0.0.1:19204
    declare -A RPORT=([node_exporter]=19200 [node_bus]=19201 [nginx_exporter]=19213 [mysqld_exporter]=19204)
    for n in node_exporter node_bus nginx_exporter mysqld_exporter; do
        wait_http "${RPORT[$n]}" || fail "$n as root does not answer"
        [ "$(unit_prop "e2e-root-$n.service" User)" = "" ] || fail "reference $n is not root"
        scrape "${RPORT[$n]}" "$WORK/logs/root-$n.txt" >/dev/null
    done
    ct systemctl stop e2e-root-node_exporter e2e-root-node_bus e2e-root-nginx_exporter e2e-root-mysqld_exporter
    # (nginx exporter 0.11 exits 1 on SIGTERM: its unit is left failed)
    ct systemctl reset-failed 'e2e-root-*' || true

    info "the dry run rates the sandboxed units (systemd-analyze security --offline)"
    xctl_ok switch "$M/sandbox.yaml" --dry-run
    for n in node_exporter nginx_exporter mysqld_exporter; do
        r=$(sed -n "s/^unit security: $n.service \\([0-9.]*\\) .*/\\1/p" "$LAST_OUT")
        [ -n "$r" ] || fail "the dry run does not rate $n.service"
        awk -v r="$r" 'BEGIN { exit !(r <= 2.0) }' || fail "the dry run rates $n.service $r (> 2.0)"
    done

    info "sandbox.yaml: no user: -> DynamicUser=yes"
    xctl_ok switch "$M/sandbox.yaml" --mode fast --yes
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    for n in node_exporter nginx_exporter mysqld_exporter; do
        [ "$(unit_prop "$n.service" DynamicUser)" = yes ] || fail "$n.service is not DynamicUser=yes"
        pid=$(main_pid "$n.service")
        uid=$(ct awk '/^Uid:/ {print $2}' "/proc/$pid/status")
        [ "$uid" != 0 ] && [ "$uid" != "$(ct id -u prometheus)" ] || fail "$n (pid $pid) runs as uid $uid, want a transient user"
        info "$n runs as transient uid $uid"
        f="$WORK/logs/sandboxed-$n.txt"
        [ "$(scrape "${PORT[$n]}" "$f")" = 200 ] || fail "sandboxed $n /metrics not 200"
        same_as_root "$n" "$WORK/logs/root-$n.txt" "$f"
        rated "$n.service"
    done
    grep -qx 'nginx_up 1' "$WORK/logs/sandboxed-nginx_exporter.txt" || fail "sandboxed nginx exporter: nginx_up is not 1"
    # my.cnf is root:prometheus 0640: the transient user reads it only
    # through LoadCredential=.
    grep -qx 'mysql_up 1' "$WORK/logs/sandboxed-mysqld_exporter.txt" || fail "sandboxed mysqld exporter: mysql_up is not 1"
    info "ok: nginx_up 1, mysql_up 1 (my.cnf through LoadCredential=)"

    info "sandbox-bus.yaml: node's systemd collector reads the system bus -> root without capabilities"
    xctl_ok switch "$M/sandbox-bus.yaml" --mode fast --yes
    assert_serving node_exporter 1.5.1
    n=node_exporter
    [ "$(unit_prop "$n.service" DynamicUser)" = no ] || fail "$n.service is DynamicUser=yes with --collector.systemd"
    [ -z "$(unit_prop "$n.service" CapabilityBoundingSet)" ] || fail "$n.service keeps capabilities: $(unit_prop "$n.service" CapabilityBoundingSet)"
    pid=$(main_pid "$n.service")
    [ "$(ct awk '/^CapEff:/ {print $2}' "/proc/$pid/status")" = 0000000000000000 ] || fail "$n (pid $pid) has effective capabilities"
    f="$WORK/logs/sandboxed-node_bus.txt"
    [ "$(scrape 9100 "$f")" = 200 ] || fail "node with the systemd collector: /metrics not 200"
    same_as_root "$n" "$WORK/logs/root-node_bus.txt" "$f"
    rated "$n.service"
}

# ------------------------------------------------------------------ 9
# A host without ca-certificates (an air-gapped host realising from an http
# mirror): the system CA store is hidden under an empty tmpfs for this
# scenario only. A switch from the http release server, its health checks
# and status must work; an https source must fail when used, before
# connecting, saying how to provide a CA bundle.
scenario_9_no_ca_store() {
    ct mount -t tmpfs -o size=1m,mode=0755 e2e-no-ca /etc/ssl/certs
    trap 'ct umount /etc/ssl/certs 2>/dev/null || true' EXIT
    [ -z "$(ct ls -A /etc/ssl/certs)" ] || fail "/etc/ssl/certs is not empty under the tmpfs"
    info "ok: /etc/ssl/certs (the store and ca-certificates.crt) hidden"

    xctl_ok switch "$M/gen-b.yaml" --mode fast --yes
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V2"
    assert_serving mysqld_exporter 0.14.1
    xctl_ok status --json
    py -c 'import json,sys
rows = json.load(open(sys.argv[1]))["exporters"]
bad = [(r["name"], r["health"]) for r in rows if r["health"] != "healthy"]
sys.exit(f"not healthy: {bad}" if bad or len(rows) != 3 else 0)' "$LAST_OUT" \
        || fail "status --json does not report three healthy exporters"

    info "an https source fails when used, before connecting, naming the way out"
    ct sh -c 'cat > /tmp/e2e-https.yaml' <<YAML
apiVersion: exporterctl/v1
settings:
  service_manager: none
exporters:
  node_exporter:
    version: "1.5.1"
    source:
      url: "https://127.0.0.1:8443/node_exporter-{version}.linux-{arch}.tar.gz"
      sha256: "$(printf 'a%.0s' $(seq 64))"
      binary: "node_exporter-{version}.linux-{arch}/node_exporter"
YAML
    if xctl realise /tmp/e2e-https.yaml; then
        fail "realise from an https URL succeeded without any CA certificate"
    fi
    grep -q 'this host has no CA certificates' "$LAST_OUT.err" && grep -q EXPORTERCTL_CA_BUNDLE "$LAST_OUT.err" \
        || fail "the https failure does not say that the host has no CA certificates and how to give a bundle"
    info "ok: http switch, health checks and status work without a CA store; https says what to do"
}

# ------------------------------------------------------------------ 10
# Socket activation on real systemd with Debian's node_exporter 1.5.0 (it
# accepts --web.systemd-socket): a plain listener switched to a generated
# node_exporter.socket, versions switched behind the socket (the socket is
# never restarted), rolled back, and rolled back to the plain listener,
# while the scraper polls :9100. Per operation the suite prints the failed
# scrapes and the longest gap between successful ones (figures, not
# assertions); every step must end healthy.

# socket_manifest FILE NODE_VERSION on|off: gen-b.yaml with node_exporter at
# NODE_VERSION, socket activation on (the catalogue's default) or off.
socket_manifest() {
    local line='    manage_unit: true'
    [ "$3" = off ] && line="$line\\n    socket_activation: false"
    ct sh -c "sed -e '0,/version: \"1.5.1\"/s//version: \"$2\"/' -e '0,/^    manage_unit: true\$/s//$line/' $M/gen-b.yaml > $1"
}

# op NAME COMMAND...: one exporterctl operation in its own scrape window.
op() {
    local name=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    echo "$t0 START 10:$name" >>"$MARKERS"
    xctl_ok "$@"
    t1=$(date +%s.%N)
    echo "$t1 END 10:$name" >>"$MARKERS"
    # The scraper appends as it polls: let it record the window's end.
    sleep 0.2
    info "scrapes during $name: $(py "$E2E_DIR/tools/scraper.py" window --events "$WORK/logs/scrape-events.txt" \
        --target node_exporter --start "$t0" --end "$t1")"
}

assert_socket_activated() {
    [ "$(unit_prop node_exporter.socket ActiveState)" = active ] || fail "node_exporter.socket is not active"
    [ "$(unit_prop node_exporter.socket UnitFileState)" = enabled ] || fail "node_exporter.socket is not enabled"
    unit_prop node_exporter.socket Listen | grep -q '127.0.0.1:9100 (Stream)' \
        || fail "node_exporter.socket listens on '$(unit_prop node_exporter.socket Listen)', want 127.0.0.1:9100"
    unit_prop node_exporter.service ExecStart | grep -q -- '--web.systemd-socket' \
        || fail "node_exporter.service does not run with --web.systemd-socket"
    ! unit_prop node_exporter.service ExecStart | grep -q -- '--web.listen-address' \
        || fail "node_exporter.service still has its own --web.listen-address"
    ct test -L /etc/systemd/system/node_exporter.socket || fail "/etc/systemd/system/node_exporter.socket is not our link"
    info "ok: node_exporter.socket active and enabled on 127.0.0.1:9100; the service runs with --web.systemd-socket"
}

assert_plain() {
    ! ct test -e /etc/systemd/system/node_exporter.socket || fail "node_exporter.socket file still in /etc/systemd/system"
    local st
    st=$(unit_prop node_exporter.socket ActiveState)
    [ "$st" = inactive ] || fail "node_exporter.socket is $st, want inactive"
    ! ct test -e /etc/systemd/system/sockets.target.wants/node_exporter.socket \
        || fail "sockets.target.wants/node_exporter.socket left behind"
    unit_prop node_exporter.service ExecStart | grep -q -- '--web.listen-address=127.0.0.1:9100' \
        || fail "node_exporter.service does not listen by itself"
    info "ok: no node_exporter.socket; the service listens on 127.0.0.1:9100 itself"
}

scenario_10_socket() {
    socket_manifest /tmp/socket-plain.yaml 1.5.0 off
    socket_manifest /tmp/socket-on.yaml 1.5.0 on
    socket_manifest /tmp/socket-on-v2.yaml 1.5.1 on
    op "to plain 1.5.0 (setup)" switch /tmp/socket-plain.yaml --mode fast --yes
    assert_serving node_exporter 1.5.0
    assert_plain
    xctl_ok status --json
    local plain_gen
    plain_gen=$(py -c 'import json,sys; print(json.load(open(sys.argv[1]))["current_generation"])' "$LAST_OUT")

    op "plain -> socket (1.5.0)" switch /tmp/socket-on.yaml --mode fast --yes
    assert_serving node_exporter 1.5.0
    assert_socket_activated
    local since
    since=$(unit_prop node_exporter.socket ActiveEnterTimestampMonotonic)

    op "1.5.0 -> 1.5.1 behind the socket" switch /tmp/socket-on-v2.yaml --mode fast --yes
    assert_serving node_exporter 1.5.1
    assert_socket_activated
    [ "$(unit_prop node_exporter.socket ActiveEnterTimestampMonotonic)" = "$since" ] \
        || fail "node_exporter.socket was restarted by a version switch behind it"
    info "ok: the socket stayed up across the version switch"

    op "rollback to 1.5.0 behind the socket" rollback
    assert_serving node_exporter 1.5.0
    assert_socket_activated
    [ "$(unit_prop node_exporter.socket ActiveEnterTimestampMonotonic)" = "$since" ] \
        || fail "node_exporter.socket was restarted by a rollback behind it"

    op "rollback socket -> plain (generation $plain_gen)" rollback --to "$plain_gen"
    assert_serving node_exporter 1.5.0
    assert_plain
    xctl_ok status --json
    py -c 'import json,sys
rows = json.load(open(sys.argv[1]))["exporters"]
bad = [(r["name"], r["health"]) for r in rows if r["health"] != "healthy"]
sys.exit(f"not healthy: {bad}" if bad else 0)' "$LAST_OUT" || fail "status --json reports an unhealthy exporter"
}

# ------------------------------------------------------------------ 11
# A real Prometheus (Debian's 2.42, in the container, on loopback) scrapes
# the three managed exporters every 100 ms: node_exporter socket-activated,
# nginx and mysqld exporters on their own listeners (Debian's predate
# --web.systemd-socket: the drain alone). Four operations on the phase --
# an upgrade of all three, `rollback`, a switch to a release that crashes
# (refused by the default preflight), the same with --preflight off
# (automatic rollback) -- and, per operation, what Prometheus recorded over
# exactly its window: failed scrapes and the longest gap between successful
# ones. Asserted: 0 failed scrapes for the socket-activated node_exporter
# during the upgrade, the rollback and the crashing release the default
# preflight refuses. The same release with --preflight off costs it a few
# (the crash is detected after ~400 ms, queued scrapes time out first):
# printed, as are the plain listeners' figures.
PROM_URL=http://127.0.0.1:9090

# stop_prometheus: SIGTERM to the Prometheus this scenario started, by its
# recorded pid, once its cmdline shows it is that one.
stop_prometheus() {
    local pid=${PROM_PID:-} cmd
    case $pid in ''|*[!0-9]*|0|1) return 0 ;; esac
    cmd=$(ct cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ') || true
    case $cmd in
        "/usr/bin/prometheus --config.file=$PROM_DIR/prometheus.yml --storage.tsdb.path=$PROM_DIR/data "*)
            ct kill -TERM "$pid"
            for _ in $(seq 1 100); do ct test -e "/proc/$pid" || break; sleep 0.1; done
            ! ct test -e "/proc/$pid" || info "warning: Prometheus (pid $pid) still running 10 s after SIGTERM"
            ;;
        *) info "warning: pid $pid is no longer our Prometheus ('$cmd'): not signalled" ;;
    esac
    PROM_PID=""
    ct rm -rf "$PROM_DIR"
}

# prom_op NAME ok|fail COMMAND...: one exporterctl operation, then what
# Prometheus recorded over exactly its window.
prom_op() {
    local name=$1 want=$2 t0 t1 rc=0
    shift 2
    t0=$(date +%s.%N)
    xctl "$@" || rc=$?
    t1=$(date +%s.%N)
    if [ "$want" = ok ]; then
        [ "$rc" = 0 ] || fail "exporterctl $* exited $rc"
    else
        [ "$rc" != 0 ] || fail "exporterctl $* exited 0 (a crashing release must fail)"
    fi
    info "Prometheus over the window of '$name' ($(py -c "print(f'{$t1-$t0:.2f}')") s):"
    ct_net /usr/bin/python3 "$E2E_DIR/tools/promq.py" window --url "$PROM_URL" --start "$t0" --end "$t1" \
        --json "$WORK/logs/prometheus-figures.jsonl" --op "$name" | sed 's/^/      /' \
        || fail "cannot read the window of '$name' from Prometheus"
}

scenario_11_prometheus() {
    info "setup: node 1.5.0 socket-activated, nginx $NGINX_V1 and mysqld 0.14.0 plain (gen-a.yaml, node at 1.5.0)"
    ct sh -c "sed -e '0,/version: \"1.5.1\"/s//version: \"1.5.0\"/' $M/gen-a.yaml > /tmp/prom-setup.yaml"
    xctl_ok switch /tmp/prom-setup.yaml --mode fast --yes
    assert_serving node_exporter 1.5.0
    assert_socket_activated
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    local n
    for n in nginx_exporter mysqld_exporter; do
        ! ct test -e "/etc/systemd/system/$n.socket" || fail "$n has a socket unit (Debian's build predates the flag)"
    done

    PROM_DIR=$(ct mktemp -d /tmp/e2e-prometheus.XXXXXX)
    ct mkdir "$PROM_DIR/data"
    ct sh -c "cat > $PROM_DIR/prometheus.yml" <<'YML'
global:
  scrape_interval: 100ms
  scrape_timeout: 90ms
scrape_configs:
  - job_name: e2e-node
    # node_exporter's full collector set takes longer than the 90 ms
    # timeout here (run 1: most scrapes timed out even between restarts);
    # a few collectors keep the figures about restarts, not collection.
    params:
      collect[]: [cpu, loadavg, meminfo, netdev, stat, time, uname, vmstat]
    static_configs:
      - targets: ["127.0.0.1:9100"]
        labels: {exporter: node_exporter, listener: socket-activated}
  - job_name: e2e
    static_configs:
      - targets: ["127.0.0.1:9113"]
        labels: {exporter: nginx_exporter, listener: plain}
      - targets: ["127.0.0.1:9104"]
        labels: {exporter: mysqld_exporter, listener: plain}
YML
    ct systemd-run -q --unit=e2e-prometheus -p StandardError=journal /usr/bin/prometheus \
        --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
        --web.listen-address=127.0.0.1:9090
    PROM_PID=$(main_pid e2e-prometheus.service)
    trap stop_prometheus EXIT
    case $PROM_PID in ''|0) fail "Prometheus did not start: $(ct journalctl -q -o cat -u e2e-prometheus.service | tail -n 5)" ;; esac
    info "Prometheus $(ct /usr/bin/prometheus --version 2>&1 | head -n1 | cut -d' ' -f3) started, pid $PROM_PID, storage $PROM_DIR/data"
    ct_net /usr/bin/python3 "$E2E_DIR/tools/promq.py" ready --url "$PROM_URL" --targets 3 --timeout 90 \
        | sed 's/^/    /' || fail "Prometheus is not ready with all three targets up"
    # a few scrape intervals of history, then a window without any
    # operation: what the scrapes lose at rest (not asserted)
    sleep 1
    local b0 b1
    b0=$(date +%s.%N)
    sleep 3
    b1=$(date +%s.%N)
    info "Prometheus over 3 s without any operation (baseline):"
    ct_net /usr/bin/python3 "$E2E_DIR/tools/promq.py" window --url "$PROM_URL" --start "$b0" --end "$b1" \
        | sed 's/^/      /' || fail "cannot read the baseline window from Prometheus"

    # One exporter at a time (--parallel 1): this measures what each
    # exporter's own restart costs its scrapes. Side by side (scenarios 2
    # and 5), three exporters starting at once on a 2-core host push a
    # just-started node_exporter's first answer past the 90 ms scrape
    # timeout (seen: 2 failed scrapes in a rollback), which is the host's
    # CPU, not the restart.
    prom_op "upgrade (node 1.5.1, nginx $NGINX_V2, mysqld 0.14.1)" ok switch "$M/gen-b.yaml" --mode fast --parallel 1 --yes
    assert_serving node_exporter 1.5.1
    assert_serving nginx_exporter "$NGINX_V2"
    assert_serving mysqld_exporter 0.14.1
    assert_socket_activated

    prom_op "rollback" ok rollback --parallel 1
    assert_serving node_exporter 1.5.0
    assert_serving nginx_exporter "$NGINX_V1"
    assert_serving mysqld_exporter 0.14.0
    assert_socket_activated

    # The default preflight (warn) starts 1.5.9 beside the running exporter,
    # sees it exit while 1.5.0 started the same way serves, and refuses the
    # switch: node_exporter is never touched.
    local crash_pid
    crash_pid=$(main_pid node_exporter.service)
    prom_op "switch to a crashing node 1.5.9 (refused by the default preflight)" fail switch "$M/broken.yaml" --mode fast --yes
    grep -q "broken on purpose" "$LAST_OUT" "$LAST_OUT.err" || fail "the refusal does not quote the broken release's output"
    grep -q "preflight: refused (node_exporter cannot start here)" "$LAST_OUT" || fail "the default preflight did not refuse"
    [ "$(main_pid node_exporter.service)" = "$crash_pid" ] || fail "node_exporter restarted under a refused switch"
    assert_serving node_exporter 1.5.0
    assert_socket_activated

    # The same release with --preflight off: flipped, restarted, caught by
    # the health check and rolled back (the net for what a preflight cannot
    # see). Its figures are printed, not asserted.
    prom_op "switch to a crashing node 1.5.9 with --preflight off (automatic rollback)" fail switch "$M/broken.yaml" --mode fast --yes --preflight off
    grep -q "broken on purpose" "$LAST_OUT" "$LAST_OUT.err" || fail "the failure does not quote the broken release's output"
    assert_serving node_exporter 1.5.0
    assert_socket_activated

    stop_prometheus
    trap - EXIT

    info "summary (a scrape every 100 ms, timeout 90 ms; failed and longest gap per operation):"
    py - "$WORK/logs/prometheus-figures.jsonl" <<'PY' | sed 's/^/      /' \
        || fail "the socket-activated node_exporter lost scrapes (see above)"
import json, sys
ops = [json.loads(l) for l in open(sys.argv[1])]
bad = []
for name in ("node_exporter", "nginx_exporter", "mysqld_exporter"):
    rows = [o["exporters"].get(name) for o in ops]
    if any(r is None for r in rows):
        bad.append(f"{name}: missing from a window")
        continue
    gaps = [r["longest_gap_ms"] for r in rows]
    print(f"{name:<16} {rows[0]['listener']:<17} failed " + " / ".join(str(r["failed"]) for r in rows)
          + f" (total {sum(r['failed'] for r in rows)}), longest gap "
          + " / ".join("none" if g is None else f"{g} ms" for g in gaps)
          + "  [upgrade / rollback / crash (default preflight) / crash with --preflight off]")
    if name == "node_exporter":
        if any(r["scrapes"] == 0 for r in rows[:3]):
            bad.append("node_exporter: a window without any scrape")
        # Issue 13's target: 0 failed scrapes for the socket-activated
        # exporter across the upgrade, the rollback and the crashing release
        # (refused by the default preflight, so never touched).
        if any(r["failed"] for r in rows[:3]):
            bad.append(f"node_exporter (socket-activated): {rows[0]['failed']} / {rows[1]['failed']} / "
                       f"{rows[2]['failed']} failed scrapes during upgrade / rollback / crashing release, want 0")
        # --preflight off: the crash is found by the health check after the
        # flip; scrapes queued on the socket meanwhile may time out.
        # Printed, not asserted.
        if rows[3]["failed"]:
            print(f"with --preflight off: {rows[3]['failed']} failed scrapes of the socket-activated "
                  f"node_exporter while the crashing release is detected and rolled back (not asserted)")
for b in bad:
    print("ERROR: " + b)
sys.exit(1 if bad else 0)
PY
    info "ok: 0 failed scrapes of the socket-activated node_exporter during the upgrade, the rollback and the crashing release (figures above)"
}

# ------------------------------------------------------------------ 12
# Preflight on real systemd: the broken release is started beside the
# running node_exporter (its generated unit, socket-activated or not, is
# left alone), fails, and says why; `--preflight require` refuses the switch
# with nothing flipped; no copy is left behind.
copies_of() { # VERSION: pids whose executable is that node_exporter release in the store
    ct sh -c 'for p in /proc/[0-9]*; do e=$(readlink "$p/exe" 2>/dev/null) || continue; case "$e" in '"$STORE"'/*-node_exporter-'"$1"'/*) echo "${p#/proc/}";; esac; done'
}
scenario_12_preflight() {
    xctl_ok realise "$M/broken.yaml"
    local pids_before gen_before
    pids_before="$(main_pid node_exporter.service) $(main_pid nginx_exporter.service) $(main_pid mysqld_exporter.service)"
    xctl_ok generations --json
    gen_before=$(py -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["generations"]))' "$LAST_OUT")

    xctl_ok switch "$M/broken.yaml" --dry-run --json
    py - "$LAST_OUT" <<'PY' || fail "the dry run's preflight does not show the broken node_exporter"
import json, sys
pf = json.load(open(sys.argv[1]))["preflight"]
node = next(r for r in pf["exporters"] if r["name"] == "node_exporter")
assert node["status"] == "failed", node
assert "broken on purpose" in node["reason"], node
print(f"    preflight wall time {pf['duration_ms']} ms; " + ", ".join(
    f"{r['name']} {r['status']} {r['duration_ms']} ms" for r in pf["exporters"]))
PY

    local rc=0
    xctl switch "$M/broken.yaml" --mode fast --yes --preflight require || rc=$?
    [ "$rc" = 1 ] || fail "switch --preflight require to a broken release exited $rc, want 1"
    grep -q "refused (--preflight require): nothing was changed" "$LAST_OUT" || fail "no refusal message"
    local pids_after
    pids_after="$(main_pid node_exporter.service) $(main_pid nginx_exporter.service) $(main_pid mysqld_exporter.service)"
    [ "$pids_after" = "$pids_before" ] || fail "MainPIDs changed under a refused switch: $pids_before -> $pids_after"
    ct test ! -e "$STATE/journal.json" || fail "a refused switch left a journal"
    xctl_ok generations --json
    [ "$(py -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["generations"]))' "$LAST_OUT")" = "$gen_before" ] \
        || fail "a refused switch made a generation"
    [ -z "$(copies_of 1.5.9)" ] || fail "preflight copies of node_exporter 1.5.9 left behind: $(copies_of 1.5.9)"
    xctl_ok status --json
    py -c 'import json,sys
rows = json.load(open(sys.argv[1]))["exporters"]
bad = [(r["name"], r["health"]) for r in rows if r["health"] != "healthy"]
sys.exit(f"not healthy: {bad}" if bad else 0)' "$LAST_OUT" || fail "status --json reports an unhealthy exporter"
    info "ok: the dry run names the failure, require refuses with nothing flipped, no copy left"
}
