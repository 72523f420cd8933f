# shellcheck shell=bash disable=SC2154,SC2034
# Shared helpers of the scripts under scripts/bench/ (sourced, not run).
# The caller sets LOG_TAG and calls bench_init once.

log() { echo "[$LOG_TAG] $*" >&2; }
die() { log "error: $*"; exit 1; }

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >&2 || { apt-get update -q >&2 && apt-get install -y -q "$@" >&2; }
}

PG=${BENCH_PG:-127.0.0.1:5432}
MY=${BENCH_MY:-127.0.0.1:3306}
pg_host=${PG%:*} pg_port=${PG##*:}
my_host=${MY%:*} my_port=${MY##*:}
psql_() { psql -h "$pg_host" -p "$pg_port" -U postgres -X -q -A -t "$@"; }
mysql_() { mysql -h "$my_host" -P "$my_port" -uroot "$@"; }

# Everything started or created is registered here and undone by cleanup:
# processes (SIGTERM, then SIGKILL after 30 s), databases ("pg:<name>",
# "my:<name>"), extra commands (undo_cmds, run last-in first-out).
pids=() dbs=() undo_cmds=()
bench_cleanup() {
    local p d i
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    done
    for d in "${dbs[@]}"; do drop_db "$d" || true; done
    for ((i = ${#undo_cmds[@]} - 1; i >= 0; i--)); do eval "${undo_cmds[$i]}" >&2 || true; done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
bench_init() { # name
    work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# The baton binary to measure: BENCH_BATON_BIN, or a release build of the
# repository at $1 (the build's output goes to stderr).
baton_binary() {
    if [ -n "${BENCH_BATON_BIN:-}" ]; then
        echo "$BENCH_BATON_BIN"
    else
        log "building the release binary"
        (cd "$1" && cargo build --release -q >&2)
        echo "${CARGO_TARGET_DIR:-$1/target}/release/baton"
    fi
}

# What the binary under test is, for a report: "prebuilt binary given as
# BENCH_BATON_BIN" or "release build of this tree".
baton_origin() {
    if [ -n "${BENCH_BATON_BIN:-}" ]; then
        echo "prebuilt binary given as BENCH_BATON_BIN"
    else
        echo "release build of this tree"
    fi
}

create_db() {
    case $1 in
    pg:*) psql_ -c "CREATE DATABASE ${1#pg:}" >/dev/null ;;
    my:*) mysql_ -e "CREATE DATABASE ${1#my:}" ;;
    esac
    dbs+=("$1")
}
drop_db() {
    local rest=() d
    case $1 in
    pg:*) psql_ -c "DROP DATABASE IF EXISTS ${1#pg:} WITH (FORCE)" >/dev/null ;;
    my:*) mysql_ -e "DROP DATABASE IF EXISTS ${1#my:}" ;;
    esac
    for d in "${dbs[@]}"; do [ "$d" = "$1" ] || rest+=("$d"); done
    dbs=("${rest[@]}")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid seconds
    local i
    for i in $(seq 1 $(($3 * 4))); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.25
    done
    return 1
}
stop_pid() { # pid: SIGTERM, up to 30 s, then SIGKILL; forgotten by cleanup
    local p rest=()
    if kill -TERM "$1" 2>/dev/null; then
        for _ in $(seq 1 120); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$1" 2>/dev/null; then
            log "pid $1 did not stop in 30 s; SIGKILL"
            kill -KILL "$1" 2>/dev/null || true
        fi
    fi
    wait "$1" 2>/dev/null || true
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done
    pids=("${rest[@]}")
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# Waits (at most BENCH_WAIT_QUIET seconds, polling every 30 s) for the
# 1-minute load average to drop below BENCH_QUIET_LOAD; sets $waited.
wait_quiet() {
    local max=${BENCH_WAIT_QUIET:-300} q=${BENCH_QUIET_LOAD:-0.8} l
    waited=0
    while [ "$max" -gt 0 ]; do
        l=$(cut -d' ' -f1 /proc/loadavg)
        awk -v l="$l" -v q="$q" 'BEGIN {exit !(l >= q)}' || break
        if [ "$waited" -ge "$max" ]; then
            log "load $l still >= $q after ${waited} s; running anyway"
            break
        fi
        log "1-minute load $l >= $q; waiting 30 s"
        sleep 30
        waited=$((waited + 30))
    done
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The PostgreSQL store's single-statement commit as a pgbench script's
# start (src/store/postgres.rs, one_statement_sql): the fence, the epoch
# check and the insert of :batch rows :lo..:hi with :body, on Baton's
# schema without prefix; the caller adds its own CTEs and the final
# `SELECT epoch FROM fence;` (pgbench-limit.sh, marks-cost.sh).
pgbench_insert_cte() {
    cat <<'SQL'
WITH fence AS (SELECT epoch FROM lock WHERE name = 'baton' FOR SHARE),
ours AS (SELECT 1 FROM fence WHERE epoch = 0),
ins AS (INSERT INTO msgs (id, destination, priority, expires, redeliveries, headers, body)
  SELECT u.* FROM UNNEST(ARRAY(SELECT generate_series(:lo::bigint, :hi::bigint)),
    array_fill('/queue/bench'::text, ARRAY[:batch::int]), array_fill(4::smallint, ARRAY[:batch::int]),
    array_fill(0::bigint, ARRAY[:batch::int]), array_fill(0::integer, ARRAY[:batch::int]),
    array_fill('persistent' || chr(58) || 'true', ARRAY[:batch::int]), array_fill(:body::bytea, ARRAY[:batch::int])) AS u
  WHERE EXISTS (SELECT 1 FROM ours))
SQL
}
