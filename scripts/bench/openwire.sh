#!/usr/bin/env bash
# Issue 15 item 8: Baton next to ActiveMQ Classic 5.17 (JDBC on the same
# PostgreSQL, commons-dbcp pool as in side-by-side.sh) over OpenWire, the
# ActiveMQ Java client's protocol, in one run on this machine:
#   - `baton bench --protocol openwire` scenarios (1 KiB BytesMessages,
#     each for BENCH_SECS seconds, a 3 s warm-up first):
#       p16    16 producers, persistent, sync sends (responseRequired, the
#              Java client's default for persistent messages)
#       drain  4 consumers (INDIVIDUAL acks) drain what p16 left
#       pc16   16 producers (as p16) + 16 consumers at once
#   - one run of the real ActiveMQ 5.17 Java client (tests/java/JmsBench.java
#     `produce`: BENCH_JMS_PRODUCERS connections, sync persistent sends of
#     BENCH_JMS_COUNT 1 KiB BytesMessages; timed from the moment every
#     connection is open), then its messages drained by `baton bench`.
# Prints a markdown report for BENCHMARKS.md on stdout (progress on stderr).
#
#   CARGO_TARGET_DIR=/work/target-release scripts/bench/openwire.sh > openwire.md
#   BENCH_SECS=2 BENCH_JMS_COUNT=200 BENCH_WAIT_QUIET=0 scripts/bench/openwire.sh   # smoke run
#
# Environment: BENCH_SECS (10), BENCH_JMS_COUNT (20000), BENCH_JMS_PRODUCERS
# (16), BENCH_PREFETCH (100), BENCH_DRAIN_TIMEOUT (120), BENCH_BATON_BIN
# (prebuilt binary instead of `cargo build --release`), BENCH_ONLY (regex on
# baton-pg, activemq), ports BENCH_BATON_PORT (61753, STOMP),
# BENCH_BATON_OW_PORT (61756), BENCH_BATON_ADMIN_PORT (8293), BENCH_AMQ_PORT
# (61754, STOMP), BENCH_AMQ_OW_PORT (61755), BENCH_PG, BENCH_WAIT_QUIET /
# BENCH_QUIET_LOAD (see common.sh), BENCH_KEEP_TMP=1. Every `baton bench` has
# a --timeout and the Java run a `timeout`; everything started is stopped
# and the databases dropped on exit.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=openwire
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
# shellcheck source=scripts/bench/brokers.sh
. scripts/bench/brokers.sh

SECS=${BENCH_SECS:-10}
SIZE=1024
JMS_COUNT=${BENCH_JMS_COUNT:-20000}
JMS_PRODUCERS=${BENCH_JMS_PRODUCERS:-16}
PREFETCH=${BENCH_PREFETCH:-100}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-120}
BATON_PORT=${BENCH_BATON_PORT:-61753}
BATON_OW_PORT=${BENCH_BATON_OW_PORT:-61756}
BATON_ADMIN_PORT=${BENCH_BATON_ADMIN_PORT:-8293}
AMQ_PORT=${BENCH_AMQ_PORT:-61754}
AMQ_OW_PORT=${BENCH_AMQ_OW_PORT:-61755}
ONLY=${BENCH_ONLY:-.}
want() { [[ $1 =~ $ONLY ]]; }

# ---------------------------------------------------------------- prerequisites
want activemq && install_activemq
command -v jq >/dev/null || apt_install jq
command -v psql >/dev/null || apt_install postgresql-client
psql_ -c 'select 1' >/dev/null || die "cannot reach PostgreSQL at $PG as postgres"
for p in "$BATON_PORT" "$BATON_OW_PORT" "$BATON_ADMIN_PORT" "$AMQ_PORT" "$AMQ_OW_PORT"; do
    port_open "$p" && die "port $p is already in use"
done
bench_init openwire-bench
build_jms_bench "$repo"
baton_build=$(baton_origin)
baton=$(baton_binary "$repo")
[ -x "$baton" ] || die "no binary at $baton"

wait_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(loadavg)

# ---------------------------------------------------------------- running cases
declare -A json jms cmdline mem_idle mem_after names flags_of
raw="$work/raw.txt"
: >"$raw"
brokers=()

bench() { # broker case flags...
    local b=$1 c=$2 out rc=0
    shift 2
    flags_of[$c]="$*"
    log "$b: $c: $*"
    out=$("$baton" bench --protocol openwire --json --timeout $((SECS * 3 + DRAIN_TIMEOUT + 60)) \
        --drain-timeout "$DRAIN_TIMEOUT" --addr "$ow_addr" "$@" 2>"$work/err") || rc=$?
    printf '%s %s rc=%s load=%s\n%s\n%s\n' "$b" "$c" "$rc" "$(loadavg)" "$out" "$(cat "$work/err")" >>"$raw"
    if [ -n "$out" ] && echo "$out" | jq -e . >/dev/null 2>&1; then
        json["$b|$c"]=$out
    else
        log "$b: $c failed (rc $rc): $(cat "$work/err")"
    fi
}
get() { # broker case jq-expr
    local j=${json["$1|$2"]:-}
    [ -n "$j" ] || { echo ""; return; }
    echo "$j" | jq -r "$3 // empty"
}

java_produce() { # broker
    local out rc=0
    log "$1: Java JMS producer: $JMS_PRODUCERS connections, $JMS_COUNT persistent messages"
    out=$(timeout $((JMS_COUNT / 10 + 120)) java -cp "$jms_cp" JmsBench produce --url "tcp://$ow_addr" \
        --dest jms.produce --count "$JMS_COUNT" --producers "$JMS_PRODUCERS" --size "$SIZE" 2>"$work/err") || rc=$?
    printf '%s jms rc=%s load=%s\n%s\n%s\n' "$1" "$rc" "$(loadavg)" "$out" "$(cat "$work/err")" >>"$raw"
    if [ "$rc" = 0 ] && echo "$out" | jq -e 'select(.event == "done")' >/dev/null 2>&1; then
        jms[$1]=$(echo "$out" | jq -c 'select(.event == "done")')
        # What the Java client sent must all be there, exactly once.
        bench "$1" jms-drain --destination /queue/jms.produce --producers 0 --consumers 4 \
            --messages "$JMS_COUNT" --ack client-individual --prefetch "$PREFETCH"
    else
        log "$1: the Java producer failed (rc $rc): $out $(cat "$work/err")"
    fi
}

scenarios() { # broker
    local b=$1 sent
    bench "$b" warm-up --destination /queue/warmup --producers 4 --consumers 4 --duration 3 --persistent --prefetch "$PREFETCH" --size "$SIZE"
    bench "$b" p16 --destination /queue/p16 --producers 16 --duration "$SECS" --persistent --size "$SIZE"
    sent=$(get "$b" p16 .sent)
    if [ -n "$sent" ] && [ "$sent" -gt 0 ]; then
        bench "$b" drain --destination /queue/p16 --producers 0 --consumers 4 --messages "$sent" --ack client-individual --prefetch "$PREFETCH"
    fi
    bench "$b" pc16 --destination /queue/pc16 --producers 16 --consumers 16 --duration "$SECS" --persistent --ack client-individual --prefetch "$PREFETCH" --size "$SIZE"
    java_produce "$b"
}

run_broker() { # key label start-command...
    local key=$1 label=$2
    shift 2
    want "$key" || return 0
    brokers+=("$key")
    names[$key]=$label
    "$@"
    sleep 3
    mem_idle[$key]=$(rss_kb "$bpid")
    scenarios "$key"
    mem_after[$key]=$(rss_kb "$bpid")
}

if want baton-pg; then
    db="bench_ow_pg_$$"
    create_db "pg:$db"
    ow_addr=127.0.0.1:$BATON_OW_PORT
    run_broker baton-pg "Baton (PostgreSQL)" start_baton baton-pg "postgres://postgres@$pg_host:$pg_port/$db" "$work/baton-pg"
    wait_port "$BATON_OW_PORT" "$bpid" 10 || die "baton did not open OpenWire port $BATON_OW_PORT"
    baton_warn=$(sed 's/\x1b\[[0-9;]*m//g' "$work/baton-pg/baton.log" | grep -cE ' (WARN|ERROR) ' || true)
    stop_pid "$bpid"
    drop_db "pg:$db"
fi
if want activemq; then
    db="bench_ow_amq_$$"
    create_db "pg:$db"
    ow_addr=127.0.0.1:$AMQ_OW_PORT
    run_broker activemq "ActiveMQ 5.17 (JDBC, PostgreSQL)" start_activemq activemq "$db"
    amq_warn=$(amq_warnings)
    stop_pid "$bpid"
    drop_db "pg:$db"
fi
load_end=$(loadavg)

# ---------------------------------------------------------------- report
num() { [ -n "$1" ] && printf '%.0f' "$1" || echo "n/a"; }
ratio() { # a b
    if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN {exit !(b > 0)}'; then
        awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f×", a / b}'
    else
        echo "n/a"
    fi
}
# "sent/received, complete, duplicates" of a case: the counts behind a rate.
counts() { # broker case
    local j=${json["$1|$2"]:-}
    [ -n "$j" ] || { echo "failed"; return; }
    echo "$j" | jq -r '"\(.sent) sent, \(.received) received\(if .duplicates > 0 then ", \(.duplicates) twice" else "" end)\(if .complete then "" else ", INCOMPLETE" end)"'
}
jget() { local j=${jms[$1]:-}; [ -n "$j" ] && echo "$j" | jq -r "$2 // empty" || echo ""; }

cat <<EOF
## OpenWire: Baton and ActiveMQ 5.17 (JDBC), the same PostgreSQL

- date: $started_at
- machine: \`nproc\` = $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal:/ {print $2 " " $3}' /proc/meminfo) RAM, $(uname -sr)
- load average (1/5/15 min): $load_start at the start, $load_end at the end (waited ${waited} s for the 1-minute load to drop below ${BENCH_QUIET_LOAD:-0.8})
- software: $("$baton" --version) ($baton_build); $(psql_ -c 'select version()' | cut -d' ' -f1-2); ActiveMQ from Debian package activemq $(dpkg-query -W -f='${Version}' activemq 2>/dev/null || echo n/a), Java client libactivemq-java $(dpkg-query -W -f='${Version}' libactivemq-java 2>/dev/null || echo n/a) on $(java -version 2>&1 | head -n1)
- load generator: \`baton bench --protocol openwire\` on the same machine: ${SIZE}-byte BytesMessages, each scenario ${SECS} s on its own queue after a 3 s warm-up; persistent sends with \`responseRequired\` (sync, as the Java client sends persistent messages); consumers with prefetch $PREFETCH and INDIVIDUAL acks; latencies from HdrHistogram
- Java: \`java -cp <libactivemq-java jars> JmsBench produce --count $JMS_COUNT --producers $JMS_PRODUCERS --size $SIZE\` (tests/java/JmsBench.java): $JMS_PRODUCERS connections, one thread each, \`MessageProducer.send\` of persistent BytesMessages (sync), timed from the moment every connection is open; its messages then drained by \`baton bench\` (4 consumers), which must find all of them, once
- command: \`BENCH_SECS=$SECS BENCH_JMS_COUNT=$JMS_COUNT BENCH_JMS_PRODUCERS=$JMS_PRODUCERS scripts/bench/openwire.sh\`

### Brokers

| broker | started with | RSS idle (kB) | RSS after the runs (kB) |
|---|---|---|---|
EOF
for b in "${brokers[@]}"; do
    echo "| ${names[$b]} | \`${cmdline[$b]:-}\` | ${mem_idle[$b]:-?} | ${mem_after[$b]:-?} |"
done
[ -n "${baton_warn:-}" ] && echo && echo "Baton log: $baton_warn WARN/ERROR lines."
[ -n "${amq_warn:-}" ] && echo && echo "ActiveMQ log: $amq_warn WARN/ERROR lines."

cat <<EOF

### Throughput (msg/s)

| scenario | \`baton bench --protocol openwire\` flags | Baton msg/s | ActiveMQ msg/s | Baton ÷ ActiveMQ | Baton counts | ActiveMQ counts |
|---|---|---|---|---|---|---|
EOF
row() { # case label metric
    local a b flags
    a=$(get baton-pg "$1" ".$3") b=$(get activemq "$1" ".$3")
    flags=$(echo "${flags_of[$1]:-}" | sed -E 's/--messages [0-9]+/--messages <sent by p16>/')
    echo "| $2 | \`$flags\` | $(num "$a") | $(num "$b") | $(ratio "$a" "$b") | $(counts baton-pg "$1") | $(counts activemq "$1") |"
}
row p16 "16 producers, persistent, sync sends (sent)" sent_per_s
row drain "drain what p16 left, 4 consumers (received)" received_per_s
row pc16 "16 producers + 16 consumers, persistent (sent)" sent_per_s
row pc16 "16 producers + 16 consumers, persistent (received)" received_per_s
a=$(jget baton-pg .msg_per_s) b=$(jget activemq .msg_per_s)
echo "| Java JMS producer, $JMS_PRODUCERS connections, $JMS_COUNT persistent messages | (tests/java/JmsBench.java) | $(num "$a") | $(num "$b") | $(ratio "$a" "$b") | $(jget baton-pg .sent) sent; drain: $(counts baton-pg jms-drain) | $(jget activemq .sent) sent; drain: $(counts activemq jms-drain) |"

cat <<EOF

### Latency (ms, p50 / p99 / p99.9)

| scenario | Baton | ActiveMQ |
|---|---|---|
EOF
lat3() { # broker case which
    local p
    p=$(get "$1" "$2" ".${3}_latency_ms | if . then \"\(.p50) / \(.p99) / \(.p999)\" else empty end")
    echo "${p:-n/a}"
}
echo "| p16 send → Response | $(lat3 baton-pg p16 send) | $(lat3 activemq p16 send) |"
echo "| pc16 send → Response | $(lat3 baton-pg pc16 send) | $(lat3 activemq pc16 send) |"
echo "| pc16 send → MessageDispatch | $(lat3 baton-pg pc16 receive) | $(lat3 activemq pc16 receive) |"
echo "| Java \`send()\` (p50 / p99 / max) | $(jget baton-pg .p50_ms) / $(jget baton-pg .p99_ms) / $(jget baton-pg .max_ms) | $(jget activemq .p50_ms) / $(jget activemq .p99_ms) / $(jget activemq .max_ms) |"

printf '\n<details><summary>raw output</summary>\n\n```\n%s\n```\n\n</details>\n' "$(cat "$raw")"
