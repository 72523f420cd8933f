#!/usr/bin/env bash
# Issue 6, "memory": resident memory (VmRSS) of Baton on PostgreSQL when
# idle (STOMP and OpenWire listeners open, issue 15 item 8), with
# MEM_MESSAGES (1,000,000) persistent 1 KiB messages waiting in
# one queue, after a kill -9 and restart with them still stored, and while
# 4 client-individual consumers drain them (the rate is reported). With
# MEM_COMPARE=1 (the default) the node is also restarted once with a window
# larger than the queue, which holds every message in memory as Baton did
# before paging, to show the difference in the same run. Markdown report
# on stdout, progress on stderr.
#
#   scripts/bench/memory.sh > memory.md
#
# Environment: MEM_MESSAGES (1000000), MEM_PRODUCERS (32), MEM_COMPARE (1),
# BENCH_BATON_BIN (prebuilt binary instead of `cargo build --release`),
# BENCH_PG (127.0.0.1:5432). Bounded: every `baton bench` has a --timeout;
# everything started is stopped and the database dropped on exit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
LOG_TAG=memory
# shellcheck source=scripts/bench/common.sh
. "$repo/scripts/bench/common.sh"
bench_init baton-memory

n=${MEM_MESSAGES:-1000000} producers=${MEM_PRODUCERS:-32} compare=${MEM_COMPARE:-1}

baton=$(baton_binary "$repo")

db=baton_memory_$$
create_db "pg:$db"
stomp_port=$((20000 + RANDOM % 20000)) admin_port=$((40001 + RANDOM % 20000))
ow_port=$((stomp_port + 1))
baton_pid=

start() { # extra serve flags...
    "$baton" serve --database-url "postgres://postgres@$pg_host:$pg_port/$db" \
        --stomp-listen "127.0.0.1:$stomp_port" --openwire-listen "127.0.0.1:$ow_port" \
        --admin-listen "127.0.0.1:$admin_port" "$@" >>"$work/baton.log" 2>&1 &
    baton_pid=$!
    pids+=("$baton_pid")
    local t0=$SECONDS
    wait_port "$stomp_port" "$baton_pid" 300 || { tail -n 30 "$work/baton.log" >&2; die "baton did not start"; }
    wait_port "$ow_port" "$baton_pid" 30 || { tail -n 30 "$work/baton.log" >&2; die "baton did not open its OpenWire port"; }
    started_in=$((SECONDS - t0))
}
kill9() {
    kill -KILL "$baton_pid"
    wait "$baton_pid" 2>/dev/null || true
    local p rest=()
    for p in "${pids[@]}"; do [ "$p" = "$baton_pid" ] || rest+=("$p"); done
    pids=("${rest[@]}")
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# Highest VmRSS of the node, sampled every 0.5 s while `$!` runs.
peak_while() {
    local p=$1 peak=0 r
    while kill -0 "$p" 2>/dev/null; do
        r=$(rss_kb "$baton_pid")
        [ "$r" != "?" ] && [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.5
    done
    echo "$peak"
}
table_mib() { psql_ -d "$db" -c "SELECT round(pg_total_relation_size('baton_msgs') / 1048576.0)"; }
bench() { "$baton" bench --addr "127.0.0.1:$stomp_port" --destination /queue/memory "$@"; }

rows=()
row() { rows+=("| $1 | $2 | $3 |"); log "$1: $2 ($3)"; }

start
sleep 5
row "idle master, empty database, STOMP and OpenWire listeners" "$(mib "$(rss_kb "$baton_pid")") MiB" "VmRSS 5 s after start"

log "filling /queue/memory with $n persistent messages ($producers producers)"
bench --producers "$producers" --messages "$n" --persistent --timeout 3600 >"$work/fill.txt" 2>&1 &
fill=$!
peak=$(peak_while "$fill")
wait "$fill" || { cat "$work/fill.txt" >&2; die "the fill failed"; }
row "while filling" "$(mib "$peak") MiB peak" "$(awk '/^sent/ {print $3 " msg/s sent"}' "$work/fill.txt")"
row "$n messages waiting" "$(mib "$(rss_kb "$baton_pid")") MiB" "table $(table_mib) MiB"

kill9
start
sleep 5
row "restarted after kill -9, $n stored" "$(mib "$(rss_kb "$baton_pid")") MiB" "master and STOMP port open ${started_in} s after the start"

if [ "$compare" = 1 ]; then
    kill9
    start --broker-queue-window $((n * 2)) --broker-queue-window-bytes $((n * 4096))
    t0=$SECONDS peak=0
    while [ $((SECONDS - t0)) -lt 60 ]; do
        r=$(rss_kb "$baton_pid")
        [ "$r" != "?" ] && [ "$r" -gt "$peak" ] && peak=$r
        sleep 1
    done
    row "restarted with a window larger than the queue (everything in memory, as before paging)" "$(mib "$peak") MiB peak over 60 s" "comparison only"
    kill9
    start
    sleep 5
fi

log "draining with 4 client-individual consumers"
bench --producers 0 --consumers 4 --messages "$n" --ack client-individual --prefetch 100 \
    --drain-timeout 1800 --timeout 3600 >"$work/drain.txt" 2>&1 &
drain=$!
peak=$(peak_while "$drain")
wait "$drain" || { cat "$work/drain.txt" >&2; die "the drain failed"; }
row "while 4 consumers drain the queue" "$(mib "$peak") MiB peak" "$(awk '/^received/ {print $3 " msg/s received"}' "$work/drain.txt")"
row "after the drain" "$(mib "$(rss_kb "$baton_pid")") MiB" "table $(table_mib) MiB"

cat <<EOF
### Memory: Baton on PostgreSQL with $n persistent messages in one queue

- command: \`MEM_MESSAGES=$n MEM_PRODUCERS=$producers MEM_COMPARE=$compare scripts/bench/memory.sh\`
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load at the end: $(loadavg)
- 1 KiB bodies; default \`broker.queue_window\` (10,000) unless said

| state | resident memory | note |
|---|---|---|
$(printf '%s\n' "${rows[@]}")

Fill (\`baton bench --producers $producers --messages $n --persistent\`):

\`\`\`
$(cat "$work/fill.txt")
\`\`\`

Drain (\`baton bench --producers 0 --consumers 4 --messages $n --ack client-individual --prefetch 100\`):

\`\`\`
$(cat "$work/drain.txt")
\`\`\`
EOF
