#!/usr/bin/env bash
# Baton next to ActiveMQ Classic 5.17 with JDBC persistence on the same
# PostgreSQL, RabbitMQ (STOMP plugin, durable queues) as a second reference,
# and PostgreSQL's own limit for Baton's write pattern (pgbench-limit.sh), in
# one run on this machine, all driven over STOMP by the same load generator
# (`baton bench`). Then MariaDB's own limit for the MySQL store's batch
# (mariadb-limit.sh) and Baton's persistent figures on MariaDB and SQLite.
# Prints a markdown report with the ratios on stdout (progress on stderr).
#
#   CARGO_TARGET_DIR=/work/target-release scripts/bench/side-by-side.sh > report.md
#
# Scenarios (1 KiB bodies, each for BENCH_SECS seconds; a 3 s warm-up first):
#   p16    16 producers, persistent, a RECEIPT per message (sync sends)
#   drain  4 consumers, client-individual, drain what p16 left
#   pc16   16 producers (as p16) + 16 consumers (client-individual) at once
#   npq    16 producers + 16 consumers (auto ack), non-persistent, queue
#   npt    4 producers + 4 consumers (auto ack), non-persistent, topic
#   lat    16 producers, persistent, paced at half of the p16 rate
# MariaDB and SQLite (Baton only): p16, drain, pc16, lat.
#
# Environment: BENCH_SECS (10), BENCH_BATON_BIN (prebuilt binary instead of
# `cargo build --release`), BENCH_ONLY (regex on broker keys: baton-pg,
# activemq, rabbitmq, baton-mariadb, baton-sqlite, pglimit, mylimit),
# BENCH_PREFETCH (consumers' prefetch, 100), BENCH_DRAIN_TIMEOUT (s, 120),
# ports BENCH_BATON_PORT (61733), BENCH_BATON_ADMIN_PORT (8273),
# BENCH_AMQ_PORT (61734), BENCH_RABBIT_PORT (61735), BENCH_PG, BENCH_MY,
# BENCH_WAIT_QUIET (max s to wait for a 1-minute load below
# BENCH_QUIET_LOAD=0.8; 300), PG_SECS (pgbench seconds per run, 8), MY_SECS
# (mariadb-limit.sh seconds per run, 8), MY_MARKS (mariadb-limit.sh's
# producer marks; 0 here: `baton bench` sends no producer ids, so Baton
# writes none), BENCH_BATON_ARGS (extra `baton serve` flags, e.g.
# "--election-lease-ms 10000"), BENCH_KEEP_TMP=1.
# Bounded time: every `baton bench` call has --timeout, every wait a limit.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=side-by-side
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
# shellcheck source=scripts/bench/brokers.sh
. scripts/bench/brokers.sh

SECS=${BENCH_SECS:-10}
SIZE=1024
PREFETCH=${BENCH_PREFETCH:-100}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-120}
BATON_PORT=${BENCH_BATON_PORT:-61733}
BATON_ADMIN_PORT=${BENCH_BATON_ADMIN_PORT:-8273}
AMQ_PORT=${BENCH_AMQ_PORT:-61734}
RABBIT_PORT=${BENCH_RABBIT_PORT:-61735}
ONLY=${BENCH_ONLY:-.}
want() { [[ $1 =~ $ONLY ]]; }

# ---------------------------------------------------------------- prerequisites
want activemq && install_activemq
command -v jq >/dev/null || apt_install jq
command -v psql >/dev/null || apt_install postgresql-client
command -v mysql >/dev/null || apt_install mariadb-client
psql_ -c 'select 1' >/dev/null || die "cannot reach PostgreSQL at $PG as postgres"
if [ -n "${BENCH_BATON_BIN:-}" ]; then
    baton=$BENCH_BATON_BIN
    baton_build="prebuilt binary given as BENCH_BATON_BIN"
else
    log "building the release binary"
    cargo build --release -q >&2
    baton="${CARGO_TARGET_DIR:-$repo/target}/release/baton"
    baton_build="release build of this tree"
fi
[ -x "$baton" ] || die "no binary at $baton"
for p in "$BATON_PORT" "$BATON_ADMIN_PORT" "$AMQ_PORT"; do
    port_open "$p" && die "port $p is already in use"
done
bench_init side-by-side

wait_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(loadavg)
load_samples=""

# ---------------------------------------------------------------- running cases
declare -A json cmdline mem_idle mem_after flags_of
raw="$work/raw.txt"
: >"$raw"
brokers=()

bench() { # broker case flags...
    local b=$1 c=$2 out rc=0
    shift 2
    flags_of[$c]="$*"
    log "$b: $c: $*"
    out=$("$baton" bench --json --timeout $((SECS * 3 + DRAIN_TIMEOUT + 60)) --drain-timeout "$DRAIN_TIMEOUT" \
        --addr "$addr" "${extra[@]}" "$@" 2>"$work/err") || rc=$?
    printf '%s %s rc=%s load=%s\n%s\n%s\n' "$b" "$c" "$rc" "$(loadavg)" "$out" "$(cat "$work/err")" >>"$raw"
    if [ -n "$out" ] && echo "$out" | jq -e . >/dev/null 2>&1; then
        json["$b|$c"]=$out
    else
        log "$b: $c failed (rc $rc): $(cat "$work/err")"
    fi
    load_samples+=" $(cut -d' ' -f1 /proc/loadavg)"
}
get() { # broker case jq-expr
    local j=${json["$1|$2"]:-}
    [ -n "$j" ] || { echo ""; return; }
    echo "$j" | jq -r "$3 // empty"
}

scenarios() { # broker all|persistent
    local b=$1 sent rate
    bench "$b" warm-up --destination /queue/warmup --producers 4 --consumers 4 --duration 3 --persistent --prefetch "$PREFETCH" --size "$SIZE"
    bench "$b" p16 --destination /queue/p16 --producers 16 --duration "$SECS" --persistent --size "$SIZE"
    sent=$(get "$b" p16 .sent)
    if [ -n "$sent" ] && [ "$sent" -gt 0 ]; then
        bench "$b" drain --destination /queue/p16 --producers 0 --consumers 4 --messages "$sent" --ack client-individual --prefetch "$PREFETCH"
    fi
    bench "$b" pc16 --destination /queue/pc16 --producers 16 --consumers 16 --duration "$SECS" --persistent --ack client-individual --prefetch "$PREFETCH" --size "$SIZE"
    if [ "$2" = all ]; then
        bench "$b" npq --destination /queue/npq --producers 16 --consumers 16 --duration "$SECS" --ack auto --prefetch "$PREFETCH" --size "$SIZE"
        bench "$b" npt --destination /topic/npt --producers 4 --consumers 4 --duration "$SECS" --ack auto --prefetch "$PREFETCH" --size "$SIZE"
    fi
    rate=$(get "$b" p16 '.sent_per_s / 2 | floor')
    if [ -n "$rate" ] && [ "$rate" -gt 0 ]; then
        bench "$b" lat --destination /queue/lat --producers 16 --duration "$SECS" --persistent --rate "$rate" --size "$SIZE"
    fi
}

run_broker() { # key label start-command... (sets addr/extra, runs, stops)
    local key=$1 label=$2
    shift 2
    want "$key" || return 0
    brokers+=("$key")
    names[$key]=$label
    "$@"
    sleep 3
    mem_idle[$key]=$(rss_kb "$bpid")
    scenarios "$key" "$scope"
    mem_after[$key]=$(rss_kb "$bpid")
    case $key in baton-*)
        # WARN/ERROR lines of Baton's log (colour codes stripped), for the report.
        broker_warnings[$key]=$(sed 's/\x1b\[[0-9;]*m//g' "$work/$key/baton.log" | grep -E ' (WARN|ERROR) ' | head -n 20 || true) ;;
    esac
}
declare -A names broker_warnings

# Baton on PostgreSQL
if want baton-pg; then
    db="bench_sbs_pg_$$"
    create_db "pg:$db"
    addr=127.0.0.1:$BATON_PORT extra=() scope=all
    run_broker baton-pg "Baton (PostgreSQL)" start_baton baton-pg "postgres://postgres@$pg_host:$pg_port/$db" "$work/baton-pg"
    pg_table_size=$(psql_ -d "$db" -c "SELECT pg_size_pretty(pg_total_relation_size('baton_msgs')) || ', ' || (SELECT count(*) FROM baton_msgs) || ' rows'" || echo n/a)
    stop_pid "$bpid"
    drop_db "pg:$db"
fi

# ActiveMQ with JDBC on PostgreSQL
if want activemq; then
    db="bench_sbs_amq_$$"
    create_db "pg:$db"
    addr=127.0.0.1:$AMQ_PORT extra=() scope=all
    run_broker activemq "ActiveMQ 5.17 (JDBC, PostgreSQL)" start_activemq activemq "$db"
    amq_warn=$(amq_warnings)
    stop_pid "$bpid"
    drop_db "pg:$db"
fi

# RabbitMQ, STOMP plugin
if want rabbitmq; then
    rabbit_vhost=""
    addr=""
    start_rabbit() { start_rabbit_stomp rabbitmq; addr=127.0.0.1:$rabbit_port; extra=(--host "$rabbit_vhost" --login guest --passcode guest); }
    scope=all
    run_broker rabbitmq "RabbitMQ (STOMP, durable queues)" start_rabbit
fi

# PostgreSQL's own limit
if want pglimit; then
    log "pgbench limit"
    PG_RESULTS="$work/pglimit.txt" BENCH_WAIT_QUIET=0 scripts/bench/pgbench-limit.sh >"$work/pglimit.md"
fi

# MariaDB's own limit
if want mylimit; then
    log "MariaDB limit"
    MY_RESULTS="$work/mylimit.txt" MY_MARKS=${MY_MARKS:-0} BENCH_WAIT_QUIET=0 scripts/bench/mariadb-limit.sh >"$work/mylimit.md"
fi

# Baton on MariaDB and SQLite: persistent figures
if want baton-mariadb; then
    db="bench_sbs_my_$$"
    create_db "my:$db"
    addr=127.0.0.1:$BATON_PORT extra=() scope=persistent
    run_broker baton-mariadb "Baton (MariaDB)" start_baton baton-mariadb "mysql://root@$my_host:$my_port/$db" "$work/baton-mariadb"
    stop_pid "$bpid"
    drop_db "my:$db"
fi
if want baton-sqlite; then
    addr=127.0.0.1:$BATON_PORT extra=() scope=persistent
    run_broker baton-sqlite "Baton (SQLite)" start_baton baton-sqlite "sqlite:$work/baton-sqlite/baton.db" "$work/baton-sqlite"
    stop_pid "$bpid"
fi
load_end=$(loadavg)

# ---------------------------------------------------------------- report
. scripts/bench/report.sh
