#!/usr/bin/env bash
# Issue 6, item 6: instructions the broker executes per message, counted by
# valgrind's callgrind, which counts instructions rather than time: the same
# binary and load give nearly the same count whatever else the machine
# does, so two builds can be compared where a timed run is too noisy.
#
# For each binary given (default: a release build of this repository), it
# runs `baton serve` under callgrind on a fresh PostgreSQL database twice,
# once with CG_SMALL and once with CG_LARGE persistent messages sent by 16
# producers (RECEIPT per message) and drained by 4 client-individual
# consumers, and reports the difference divided by the difference in
# messages: the instructions one more message costs, startup and shutdown
# excluded. Also lists the functions with the most instructions of their
# own (exclusive) in the large run. Markdown on stdout, progress on stderr.
#
#   scripts/bench/callgrind.sh [baton-binary ...] > callgrind.md
#
# Environment: CG_SMALL (2000), CG_LARGE (12000), CG_TOP (20), CG_PROTOCOL
# (stomp, or openwire: the load over the OpenWire port, the ActiveMQ Java
# client's protocol), BENCH_PG,
# CG_BENCH_BIN (the `baton bench` that makes the load; default: each binary
# under test its own. Give one binary to compare builds whose load
# generators differ: a newer `baton bench` may send other headers).
# Installs valgrind if missing. Bounded: every load has a --timeout, and
# everything started is stopped and every database dropped on exit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
LOG_TAG=callgrind
# shellcheck source=scripts/bench/common.sh
. "$repo/scripts/bench/common.sh"
bench_init baton-callgrind

small=${CG_SMALL:-2000} large=${CG_LARGE:-12000} top=${CG_TOP:-20} protocol=${CG_PROTOCOL:-stomp}
command -v valgrind >/dev/null || { log "installing valgrind"; apt_install valgrind; }
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$(baton_binary "$repo")")

run() { # binary messages out-file: instructions of the whole run
    local bin=$1 n=$2 out=$3 db url port aport oport pid addr
    db=baton_cg_$$_$n
    create_db "pg:$db"
    url="postgres://postgres@$pg_host:$pg_port/$db"
    port=$((20000 + RANDOM % 10000)) aport=$((30000 + RANDOM % 2000)) oport=$((32000 + RANDOM % 2000))
    addr=127.0.0.1:$port
    [ "$protocol" = openwire ] && addr=127.0.0.1:$oport
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" serve --database-url "$url" --stomp-listen "127.0.0.1:$port" \
        --admin-listen "127.0.0.1:$aport" --openwire-listen "127.0.0.1:$oport" >"$work/serve.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_port "$port" "$pid" 120 || { tail -n 20 "$work/serve.log" >&2; die "baton did not start under valgrind"; }
    "${CG_BENCH_BIN:-$bin}" bench --protocol "$protocol" --addr "$addr" --destination /queue/cg --producers 16 --persistent \
        --messages "$n" --timeout 900 >>"$work/bench.txt" 2>&1 || die "the load failed: $(tail -n 5 "$work/bench.txt")"
    "${CG_BENCH_BIN:-$bin}" bench --protocol "$protocol" --addr "$addr" --destination /queue/cg --producers 0 --consumers 4 \
        --ack client-individual --prefetch 100 --messages "$n" --timeout 900 >>"$work/bench.txt" 2>&1 ||
        die "the drain failed: $(tail -n 5 "$work/bench.txt")"
    stop_pid "$pid"
    drop_db "pg:$db"
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

cat <<EOF
### Instructions per message (callgrind)

- command: \`${CG_BENCH_BIN:+CG_BENCH_BIN=$CG_BENCH_BIN }${CG_PROTOCOL:+CG_PROTOCOL=$CG_PROTOCOL }CG_SMALL=$small CG_LARGE=$large scripts/bench/callgrind.sh ${*:-}\`
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores; valgrind $(valgrind --version)
- load per run, over $protocol: N persistent 1 KiB messages from 16 producers (each confirmed: a RECEIPT, or OpenWire's Response), then drained by 4 client-individual consumers; N = $small and $large
- instructions per message = (instructions with $large - with $small) / $((large - small)), broker process only (its threads, SQL driver included; PostgreSQL's own work is not counted)

| binary | instructions, $small messages | instructions, $large messages | per message |
|---|---|---|---|
EOF
i=0
for bin in "${bins[@]}"; do
    i=$((i + 1))
    log "$bin: $small messages"
    a=$(run "$bin" "$small" "$work/cg.$i.small")
    log "$bin: $large messages"
    b=$(run "$bin" "$large" "$work/cg.$i.large")
    echo "| \`$bin\` | $a | $b | $(((b - a) / (large - small))) |"
done
for j in $(seq 1 "$i"); do
    echo
    echo "Functions with the most instructions of their own (exclusive) in the $large-message run of \`${bins[$((j - 1))]}\`:"
    echo
    echo '```text'
    # "count (share) file:function [object]" -> "count (share) function"
    callgrind_annotate "$work/cg.$j.large" 2>/dev/null | grep -E '^ *[0-9,]+ \(' |
        sed -E 's/ [^ :]*:/ /; s/ \[[^]]*\]$//' | awk -v n="$top" 'NR <= n' | cut -c1-150
    echo '```'
done
