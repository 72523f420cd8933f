#!/usr/bin/env bash
# Issue 6, item 6: where Baton's CPU time goes under load. Starts Baton (a
# release build with debug symbols) on a fresh database, drives one
# `baton bench` scenario at full speed, and while it runs measures, on the
# broker process only:
#   - CPU time and system calls per message (perf stat on the raw_syscalls
#     and per-syscall tracepoints, /proc/<pid>/stat for user + system time,
#     the broker's own /metrics counters for the messages);
#   - a sampled CPU profile (perf record), reported by shared object, by
#     symbol, and summed into categories (kernel, allocator, copies, tokio,
#     sqlx, Baton's STOMP / broker / store code).
# Prints a Markdown report on stdout (progress on stderr).
#
#   scripts/bench/profile.sh > profile.md
#
# Environment: PROFILE_CASE (p16 | pc16 | npq; p16), PROFILE_DB (postgres |
# mariadb | sqlite; postgres), PROFILE_SECS (length of each measurement
# window; 10), PROFILE_TOP (symbols listed; 30), BENCH_BATON_BIN (prebuilt
# binary instead of `cargo build --release`; it needs its symbols),
# BENCH_PG, BENCH_MY. Installs linux-perf if perf is missing.
# Bounded: the load runs for 2 * PROFILE_SECS + 10 s; everything started is
# stopped and the database dropped on exit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
LOG_TAG=profile
# shellcheck source=scripts/bench/common.sh
. "$repo/scripts/bench/common.sh"
bench_init baton-profile

case_=${PROFILE_CASE:-p16} backend=${PROFILE_DB:-postgres}
secs=${PROFILE_SECS:-10} top=${PROFILE_TOP:-30}
command -v perf >/dev/null || { log "installing linux-perf"; apt_install linux-perf; }
perf stat -e raw_syscalls:sys_enter -- true 2>/dev/null ||
    die "perf cannot read the raw_syscalls tracepoints here (run as root, or lower kernel.perf_event_paranoid)"

baton=$(baton_binary "$repo")

db=baton_profile_$$
case $backend in
postgres) create_db "pg:$db"; url="postgres://postgres@$pg_host:$pg_port/$db" ;;
mariadb) create_db "my:$db"; url="mysql://root@$my_host:$my_port/$db" ;;
sqlite) url="sqlite://$work/baton.db" ;;
*) die "PROFILE_DB must be postgres, mariadb or sqlite, not '$backend'" ;;
esac
case $case_ in
p16) flags=(--producers 16 --persistent) ;;
pc16) flags=(--producers 16 --consumers 16 --persistent --ack client-individual --prefetch 100) ;;
npq) flags=(--producers 16 --consumers 16 --ack auto --prefetch 100) ;;
*) die "PROFILE_CASE must be p16, pc16 or npq, not '$case_'" ;;
esac
dest=/queue/profile

stomp_port=$((20000 + RANDOM % 10000)) admin_port=$((30000 + RANDOM % 2000))
"$baton" serve --database-url "$url" \
    --stomp-listen "127.0.0.1:$stomp_port" --admin-listen "127.0.0.1:$admin_port" \
    >"$work/baton.log" 2>&1 &
pids+=($!)
bpid=$!
wait_port "$stomp_port" "$bpid" 60 || { tail -n 30 "$work/baton.log" >&2; die "baton did not start"; }

metric() { # name: the counter of $dest
    curl -s "http://127.0.0.1:$admin_port/metrics" |
        awk -v m="baton_destination_$1_total{destination=\"$dest\"}" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
messages() { # sent + received: every message handled once in, once out
    echo $(($(metric enqueued | cut -d. -f1) + $(metric dequeued | cut -d. -f1)))
}
histogram() { # name: "count sum" of a histogram of the node
    curl -s "http://127.0.0.1:$admin_port/metrics" |
        awk -v c="baton_$1_count" -v s="baton_$1_sum" '$1 == c {n = $2} $1 == s {t = $2} END {print n + 0, t + 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$bpid/stat"; }
switches() { # context switches of all the broker's threads: voluntary nonvoluntary
    cat /proc/"$bpid"/task/*/status | awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v, n}'
}

log "warm-up"
"$baton" bench --addr "127.0.0.1:$stomp_port" --destination /queue/warmup --producers 4 --consumers 4 \
    --persistent --duration 3 >/dev/null 2>&1 || log "warm-up failed"

log "$case_ on $backend: load for $((2 * secs + 10)) s"
"$baton" bench --addr "127.0.0.1:$stomp_port" --destination "$dest" "${flags[@]}" \
    --duration $((2 * secs + 10)) --drain-timeout 60 --timeout $((2 * secs + 120)) >"$work/bench.txt" 2>&1 &
pids+=($!)
load_pid=$!
sleep 3

syscalls=(sendto recvfrom write read writev readv epoll_wait futex sched_yield)
events=(-e raw_syscalls:sys_enter)
for s in "${syscalls[@]}"; do events+=(-e "syscalls:sys_enter_$s"); done
log "window 1: system calls and CPU time for $secs s"
m0=$(messages) c0=$(cpu_ticks)
read -r v0 i0 <<<"$(switches)"
read -r b0 o0 <<<"$(histogram store_batch_operations)"
read -r _ s0 <<<"$(histogram store_commit_seconds)"
perf stat -x, "${events[@]}" -p "$bpid" -o "$work/stat.csv" -- sleep "$secs" 2>/dev/null
m1=$(messages) c1=$(cpu_ticks)
read -r v1 i1 <<<"$(switches)"
read -r b1 o1 <<<"$(histogram store_batch_operations)"
read -r _ s1 <<<"$(histogram store_commit_seconds)"
commits=$(awk -v a="$b0" -v b="$b1" 'BEGIN {print b - a}')
log "window 2: sampling the CPU for $secs s"
perf record -q -F 999 -p "$bpid" -o "$work/perf.data" -- sleep "$secs" 2>/dev/null
m2=$(messages)
wait "$load_pid" || log "baton bench exited non-zero (see the report)"

n1=$((m1 - m0)) n2=$((m2 - m1))
[ "$n1" -gt 0 ] || die "no messages in the first window; baton log: $(tail -n 20 "$work/baton.log")"
hz=$(getconf CLK_TCK)
cpu_us=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$n1" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')

report() { perf report -i "$work/perf.data" --no-children --stdio --percent-limit 0 -q "$@" 2>/dev/null; }
# One row per symbol: "percent dso symbol".
report --sort dso,sym -F overhead,dso,sym | sed 's/%//; s/\[\.\] //; s/\[k\] //' | sort -rn >"$work/syms.txt"

category() { # percent dso symbol lines -> category sums
    awk '
    {
        p = $1; dso = $2; $1 = ""; $2 = ""; s = $0
        if (dso ~ /kernel/) c = "kernel (system calls, TCP, scheduling)"
        else if (s ~ /malloc|free|realloc|calloc|_int_|cfree|arena/) c = "allocator (malloc / free)"
        else if (s ~ /memcpy|memmove|memset|memchr|memcmp/) c = "copies and scans (memcpy, memchr, ...)"
        else if (s ~ /sqlx|postgres|mysql|sqlite|libsqlite/) c = "sqlx and the database driver"
        else if (s ~ /baton::stomp/) c = "Baton: STOMP parser, codec, sessions"
        else if (s ~ /baton::broker/) c = "Baton: broker core"
        else if (s ~ /baton::store/) c = "Baton: store and group commit"
        else if (s ~ /tokio|mio::/) c = "tokio runtime"
        else if (s ~ /hashbrown|core::hash|sip|fxhash/) c = "hashing"
        else if (s ~ /baton::/) c = "Baton: other"
        else if (dso ~ /^baton/) c = "Rust std, core and other crates"
        else c = "other (" dso ")"
        sum[c] += p
    }
    END { for (c in sum) printf "%.1f\t%s\n", sum[c], c }' | sort -rn
}

cat <<EOF
### Profile: Baton on $backend, $case_

- command: \`PROFILE_CASE=$case_ PROFILE_DB=$backend PROFILE_SECS=$secs scripts/bench/profile.sh\`
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores; load at the end: $(loadavg)
- binary: $baton; load: \`baton bench ${flags[*]}\`, 1 KiB bodies, broker and load generator on this machine
- messages handled (sent + received, from the broker's /metrics): $n1 in window 1, $n2 in window 2

#### Per message (window 1, $secs s)

Group commits in the window: $commits, $(awk -v o=$((${o1%.*} - ${o0%.*})) -v c="$commits" 'BEGIN {printf "%.1f", c ? o / c : 0}') operations each on average (an insert, a delete, a producer mark, ...), $(awk -v a="$s0" -v b="$s1" -v c="$commits" 'BEGIN {printf "%.2f", c ? (b - a) * 1000 / c : 0}') ms each.

| what | per message |
|---|---|
| broker CPU time (user + system) | $cpu_us µs |
| context switches: voluntary (a thread waits) | $(awk -v d=$((v1 - v0)) -v n="$n1" 'BEGIN {printf "%.2f", d / n}') |
| context switches: involuntary (a thread is preempted) | $(awk -v d=$((i1 - i0)) -v n="$n1" 'BEGIN {printf "%.2f", d / n}') |
$(awk -F, -v n="$n1" '$1 ~ /^[0-9]+$/ {e = $3; sub(/^.*sys_enter_?/, "", e); if (e == "") e = "all"; printf "| system calls: %s | %.2f |\n", e, $1 / n}' "$work/stat.csv")

#### CPU samples by category (window 2)

| % of the broker's samples | category |
|---|---|
$(category <"$work/syms.txt" | awk -F'\t' '{printf "| %s | %s |\n", $1, $2}')

#### Top $top symbols (window 2)

| % | object | symbol |
|---|---|---|
$(head -n "$top" "$work/syms.txt" | awk '{p = $1; d = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); gsub(/\|/, "\\|"); printf "| %s | %s | `%s` |\n", p, d, substr($0, 1, 110)}')

\`baton bench\` report:

\`\`\`
$(cat "$work/bench.txt")
\`\`\`
EOF
