#!/usr/bin/env bash
# Where the two cores go while Baton runs its persistent scenarios on
# PostgreSQL: the CPU seconds the broker, PostgreSQL (every backend of the
# cluster, from /proc) and the load generator each use during side-by-side's
# p16 (16 producers, persistent, a RECEIPT per message) and pc16 (the same
# plus 16 client-individual consumers), as a share of the two cores. It
# tells a CPU-bound run from a database-bound one, and how much of the
# machine the broker itself takes.
#
#   BENCH_BATON_BIN=<release binary> scripts/bench/cpu-split.sh > cpu.md
#
# Environment: BENCH_BATON_BIN (else a release build of this repository),
# BENCH_BATON_ARGS (extra `baton serve` flags, e.g.
# "--database-commit-wait-us 300"), BENCH_SECS (10), BENCH_PG,
# BENCH_WAIT_QUIET (see common.sh; 120 here).
# Bounded: the load has --timeout; the broker is stopped and the database
# dropped on exit.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=cpu-split
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
SECS=${BENCH_SECS:-10}
bench_init cpu-split
baton=$(baton_binary "$repo")
hz=$(getconf CLK_TCK)

ticks() { # pid...: utime + stime of the processes, in clock ticks
    local t=0 p f
    for p in "$@"; do
        f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
        t=$((t + ${f% *} + ${f#* }))
    done
    echo "$t"
}
sys_ticks() { cut -d' ' -f15 "/proc/$1/stat" 2>/dev/null || echo 0; } # stime of one process
postgres_pids() { pgrep -x postgres || pgrep -f '^postgres' || true; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; } # user nice system irq softirq
total() { awk '/^cpu / {s = 0; for (i = 2; i <= 9; i++) s += $i; print s}' /proc/stat; }

BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-120} wait_quiet
db=bench_cpu_$$
create_db "pg:$db"
port=$((20000 + RANDOM % 10000)) aport=$((30000 + RANDOM % 2000))
read -r -a more <<<"${BENCH_BATON_ARGS:-}"
"$baton" serve --database-url "postgres://postgres@$pg_host:$pg_port/$db" \
    --stomp-listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$aport" "${more[@]}" >"$work/serve.log" 2>&1 &
bpid=$!
pids+=("$bpid")
wait_port "$port" "$bpid" 60 || die "baton did not start: $(tail -n 5 "$work/serve.log")"
"$baton" bench --addr "127.0.0.1:$port" --destination /queue/warmup --producers 4 --consumers 4 \
    --duration 3 --persistent --timeout 60 >/dev/null

children() { awk '{print $16 + $17}' "/proc/$$/stat"; } # cutime + cstime of this shell
rows=""
measure() { # case flags...: appends a row to rows
    local c=$1 b0 p0 g0 s0 t0 k0 b1 p1 g1 s1 t1 k1 out
    shift
    # shellcheck disable=SC2046 # one pid per word
    b0=$(ticks "$bpid") k0=$(sys_ticks "$bpid") p0=$(ticks $(postgres_pids)) g0=$(children) s0=$(busy) t0=$(total)
    # The generator runs as a child of this shell: its CPU time is what the
    # children's total grows by (plus a few ms of this script's helpers).
    "$baton" bench --json --timeout $((SECS * 3 + 60)) --addr "127.0.0.1:$port" "$@" >"$work/$c.json" 2>"$work/$c.err" ||
        die "$c: the load failed: $(tail -n 5 "$work/$c.err")"
    # shellcheck disable=SC2046
    b1=$(ticks "$bpid") k1=$(sys_ticks "$bpid") p1=$(ticks $(postgres_pids)) g1=$(children) s1=$(busy) t1=$(total)
    out=$(cat "$work/$c.json")
    rows+=$(awk -v c="$c" -v hz="$hz" -v b=$((b1 - b0)) -v k=$((k1 - k0)) -v p=$((p1 - p0)) -v g=$((g1 - g0)) \
        -v s=$((s1 - s0)) -v t=$((t1 - t0)) -v rate="$(echo "$out" | jq -r '.sent_per_s')" \
        -v recv="$(echo "$out" | jq -r '.received_per_s')" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.2f (%.0f %%) | %.0f %% | %.2f (%.0f %%) | %.2f (%.0f %%) | %.0f %% |", c, rate, recv,
            b / hz, 100 * b / t, (b > 0 ? 100 * k / b : 0), p / hz, 100 * p / t, g / hz, 100 * g / t, 100 * s / t
    }')$'\n'
}
measure p16 --destination /queue/p16 --producers 16 --duration "$SECS" --persistent --size 1024
measure pc16 --destination /queue/pc16 --producers 16 --consumers 16 --duration "$SECS" \
    --persistent --ack client-individual --prefetch 100 --size 1024

cat <<EOF
### Where the cores go: Baton on PostgreSQL, persistent scenarios

- command: \`BENCH_BATON_BIN=$baton ${BENCH_BATON_ARGS:+BENCH_BATON_ARGS=\"$BENCH_BATON_ARGS\" }BENCH_SECS=$SECS scripts/bench/cpu-split.sh\`
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores; $(psql_ -c 'select version()' | cut -d' ' -f1-2); load average at the end $(loadavg)
- CPU seconds (user + system, from /proc) of the broker, of every PostgreSQL process and of the load generator (\`baton bench\`) over each scenario, and each as a share of what the $(nproc) cores could give in that time; "machine busy" is the share of both cores used by anything (from /proc/stat)

| scenario | sent msg/s | received msg/s | broker CPU s (share) | of it in the kernel | PostgreSQL CPU s (share) | load generator CPU s (share) | machine busy |
|---|---|---|---|---|---|---|---|
$rows
EOF
