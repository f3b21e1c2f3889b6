# shellcheck shell=bash
# Assertion helpers for the exporterctl e2e scenarios. Sourced by run.sh.
# Every helper that asserts calls fail(), which exits the scenario subshell.

STORE=/var/lib/exporterctl/store
STATE=/var/lib/exporterctl
declare -A PORT=([node_exporter]=9100 [nginx_exporter]=9113 [mysqld_exporter]=9104)
declare -A BUILD_INFO=([node_exporter]=node_exporter_build_info [nginx_exporter]=nginxexporter_build_info [mysqld_exporter]=mysqld_exporter_build_info)
declare -A UP_SAMPLE=([nginx_exporter]="nginx_up 1" [mysqld_exporter]="mysql_up 1")

fail() { printf '    ASSERTION FAILED: %s\n' "$*"; exit 1; }
info() { printf '    %s\n' "$*"; }

# Release index (written by make_releases.py): idx EXPORTER VERSION FIELD
idx() {
    py -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]][sys.argv[4]]; print("" if v is None else v)' \
        "$RELEASES/index.json" "$1" "$2" "$3"
}

CMD_N=0
# xctl ARGS...: run exporterctl inside the container, show command + output,
# keep the output in $LAST_OUT, return its exit status.
xctl() {
    CMD_N=$((CMD_N + 1))
    local out="$WORK/logs/${SCENARIO:-x}.cmd-$CMD_N.out" rc=0
    info "\$ exporterctl $*"
    ct timeout 300 "$XCTL" "$@" >"$out" 2>"$out.err" || rc=$?
    show_output "$out" '|'
    show_output "$out.err" '!'
    info "  -> exit $rc"
    LAST_OUT=$out
    return $rc
}
# show_output FILE MARK: first 30 lines, indented (stdout '|', stderr '!')
show_output() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | cut -c1-240 | head -n 30 | sed "s/^/      $2 /"
    [ "$(wc -l <"$1")" -le 30 ] || info "  $2 ... ($(wc -l <"$1") lines in all)"
}
xctl_ok() { xctl "$@" || fail "exporterctl $* exited non-zero"; }

unit_prop() { ct systemctl show -p "$2" --value "$1"; }
main_pid() { unit_prop "$1" MainPID; }
exe_of() { ct readlink "/proc/$1/exe"; }
link_target() { ct readlink -f "/usr/local/bin/$1"; }
sha_of() { local o; o=$(ct sha256sum "$1") || fail "cannot read $1"; echo "${o%% *}"; }

# scrape PORT FILE -> prints HTTP code ("000" when it does not answer)
# (host curl in the container's network namespace, so FILE is a host path)
scrape() { ct_net curl -s -m 5 -o "$2" -w '%{http_code}' "http://127.0.0.1:$1/metrics" 2>/dev/null || true; }
# build_version FILE METRIC
build_version() { sed -n "s/^$2{.*version=\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1; }

# wait_http PORT [seconds]: until /metrics answers 200
wait_http() {
    local i
    for i in $(seq 1 $((${2:-30} * 10))); do
        [ "$(scrape "$1" /dev/null)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# assert_serving NAME VERSION: the unit runs the store binary of release
# NAME@VERSION and its /metrics says so.
assert_serving() {
    local name=$1 version=$2 unit=$1.service port=${PORT[$1]}
    local state pid exe sha want_sha code reports got f="$WORK/logs/metrics-$1.txt"
    state=$(unit_prop "$unit" ActiveState)
    pid=$(main_pid "$unit")
    [ "$state" = active ] || fail "$unit ActiveState=$state (want active)"
    [ -n "$pid" ] && [ "$pid" != 0 ] || fail "$unit has no MainPID"
    exe=$(exe_of "$pid") || fail "cannot read /proc/$pid/exe"
    case "$exe" in "$STORE"/*) ;; *) fail "$unit MainPID $pid runs $exe, not a binary inside $STORE/";; esac
    sha=$(sha_of "/proc/$pid/exe")
    want_sha=$(idx "$name" "$version" binary_sha256)
    [ "$sha" = "$want_sha" ] || fail "$unit runs $exe with sha256 $sha, want the $name $version binary ($want_sha)"
    code=$(scrape "$port" "$f")
    [ "$code" = 200 ] || fail "$name /metrics on :$port answered $code (want 200)"
    reports=$(idx "$name" "$version" reports)
    got=$(build_version "$f" "${BUILD_INFO[$name]}")
    [ "$got" = "$reports" ] || fail "$name ${BUILD_INFO[$name]}{version} = '$got', want '$reports'"
    if [ -n "${UP_SAMPLE[$name]:-}" ]; then
        grep -qx "${UP_SAMPLE[$name]}" "$f" || fail "$name /metrics lacks '${UP_SAMPLE[$name]}' ($(grep -E '^(nginx|mysql)_up' "$f" | tr '\n' ' '))"
    fi
    info "ok: $unit active, MainPID $pid exe $exe ($name $version), /metrics 200, version=$got${UP_SAMPLE[$name]:+, ${UP_SAMPLE[$name]}}"
}

# assert_link NAME: /usr/local/bin/NAME is a symlink resolving into the store
assert_link() {
    ct test -L "/usr/local/bin/$1" || fail "/usr/local/bin/$1 is not a symlink"
    ct test -e "/usr/local/bin/$1" || fail "/usr/local/bin/$1 is a dangling symlink -> $(ct readlink "/usr/local/bin/$1")"
    local t
    t=$(link_target "$1")
    case "$t" in "$STORE"/*) ;; *) fail "/usr/local/bin/$1 resolves to $t, not inside $STORE/";; esac
}

# store_entry PATH -> first path component below the store
store_entry() { local p=${1#"$STORE"/}; echo "${p%%/*}"; }
store_count() { ct sh -c "ls -1A $STORE 2>/dev/null | wc -l"; }

# json_has_generation FILE N: some object in the JSON carries generation N
json_has_generation() {
    py - "$1" "$2" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
keys = {"generation", "id", "number", "gen", "generation_id"}
def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k.lower() in keys and (v == n or v == str(n)):
                return True
            if walk(v):
                return True
    elif isinstance(x, list):
        return any(walk(v) for v in x)
    return False
sys.exit(0 if walk(data) else 1)
PY
}

# json_inflight FILE: exit 0 when the status JSON reports an in-flight switch
# (a truthy *flight* key, or a *switch* object whose status is running/interrupted)
json_inflight() {
    py - "$1" <<'PY'
import json, re, sys
data = json.load(open(sys.argv[1]))
def walk(x, parent=""):
    if isinstance(x, dict):
        for k, v in x.items():
            if re.search("flight", k, re.I) and v not in (None, False, [], {}, "", 0):
                print(f"in-flight marker: {k} = {json.dumps(v)[:200]}")
                return True
            if k == "status" and re.search("switch|journal", parent, re.I) and str(v).lower() in ("running", "interrupted", "in_flight", "pending"):
                print(f"in-flight marker: {parent}.status = {v}")
                return True
            if walk(v, k):
                return True
    elif isinstance(x, list):
        return any(walk(v, parent) for v in x)
    return False
sys.exit(0 if walk(data) else 1)
PY
}

# json_failure_for NAME FILE...: exit 0 when some non-empty value under a
# key matching /fail/ (failures, failed_steps, failed_attempts, ...)
# mentions NAME; prints what it found.
json_failure_for() {
    py - "$@" <<'PY'
import json, re, sys
name, files = sys.argv[1], sys.argv[2:]
found = []
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items():
            if re.search("fail", k, re.I) and v not in (None, False, [], {}, "", 0) and name in json.dumps(v):
                found.append(f"{path}.{k} = {json.dumps(v)[:300]}")
            walk(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            walk(v, f"{path}[{i}]")
for f in files:
    try:
        walk(json.load(open(f)), f.rsplit("/", 1)[-1])
    except ValueError as e:
        print(f"{f}: not JSON ({e})")
for line in found[:6]:
    print("      " + line)
sys.exit(0 if found else 1)
PY
}

release_log_lines() { ct sh -c 'wc -l < /run/e2e-release-server.log'; }

dump_debug() {
    local u
    echo "    ---- debug: systemd state ----"
    ct systemctl --no-pager --failed 2>&1 | sed 's/^/    /' || true
    for u in node_exporter nginx_exporter mysqld_exporter; do
        echo "    ---- journalctl -u $u.service (last 15) ----"
        ct journalctl --no-pager -o short-precise -n 15 -u "$u.service" 2>&1 | cut -c1-220 | sed 's/^/    /' || true
    done
    echo "    ---- /usr/local/bin ----"
    ct sh -c 'for l in /usr/local/bin/*; do echo "$l -> $(readlink "$l") => $(readlink -f "$l")"; done' 2>&1 | sed 's/^/    /' || true
    echo "    ---- $STATE ----"
    ct sh -c "ls -la $STATE; cat $STATE/journal.json 2>/dev/null | head -c 1500" 2>&1 | sed 's/^/    /' || true
}
