#!/usr/bin/env bash
# Issue 6, "a message table that stays healthy under churn": steady
# persistent produce + consume at full speed against Baton on PostgreSQL (or
# MariaDB) for CHURN_SECS (600), sampling every CHURN_EVERY seconds (60) the
# message table's size, its live rows, what is left to clean up, and the
# rate consumed in that interval. PostgreSQL: heap + indexes + TOAST, dead
# tuples, autovacuum runs. MariaDB (InnoDB, file per table): the table's
# tablespace file, the free space inside it, and the history list length
# (undo logs of committed changes that purge has not yet processed: what
# InnoDB still has to clean up, its dead tuples). Prints a
# Markdown report on stdout (progress on stderr).
#
#   scripts/bench/churn.sh > churn.md
#
# Environment: CHURN_SECS (600), CHURN_EVERY (60), CHURN_PRODUCERS (8),
# CHURN_CONSUMERS (8), CHURN_BATON_ARGS (extra `baton serve` flags, e.g.
# "--database-vacuum-interval-ms 0" to leave the table to autovacuum, or
# "--broker-dispatch-before-commit true"), CHURN_DB (postgres | mariadb;
# postgres), BENCH_BATON_BIN (prebuilt binary
# instead of `cargo build --release`), BENCH_PG (127.0.0.1:5432), BENCH_MY
# (127.0.0.1:3306).
# Bounded: the load generator stops after CHURN_SECS (+120 s for its drain);
# everything started is stopped and the database dropped on exit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
LOG_TAG=churn
# shellcheck source=scripts/bench/common.sh
. "$repo/scripts/bench/common.sh"
bench_init baton-churn

secs=${CHURN_SECS:-600} every=${CHURN_EVERY:-60}
producers=${CHURN_PRODUCERS:-8} consumers=${CHURN_CONSUMERS:-8}

baton=$(baton_binary "$repo")

backend=${CHURN_DB:-postgres}
db=baton_churn_$$
case $backend in
postgres) create_db "pg:$db"; url="postgres://postgres@$pg_host:$pg_port/$db" ;;
mariadb) create_db "my:$db"; url="mysql://root@$my_host:$my_port/$db" ;;
*) die "CHURN_DB must be postgres or mariadb, not '$backend'" ;;
esac
stomp_port=$((20000 + RANDOM % 20000)) admin_port=$((40000 + RANDOM % 20000))
# shellcheck disable=SC2086
"$baton" serve --database-url "$url" \
    --stomp-listen "127.0.0.1:$stomp_port" --admin-listen "127.0.0.1:$admin_port" \
    ${CHURN_BATON_ARGS:-} >"$work/baton.log" 2>&1 &
pids+=($!)
baton_pid=$!
wait_port "$stomp_port" "$baton_pid" 60 || { tail -n 30 "$work/baton.log" >&2; die "baton did not start"; }
if [ "$backend" = postgres ]; then
    cleanup_setting="PostgreSQL autovacuum: $(psql_ -d "$db" -c "SELECT current_setting('autovacuum') || ', naptime ' || current_setting('autovacuum_naptime')")"
    header="| t (s) | consumed msg/s in the interval | table size (KiB) | live tuples | dead tuples | autovacuum runs | load (1/5/15 min) |"
else
    cleanup_setting="MariaDB $(mysql_ -N -e "SELECT CONCAT(VERSION(), ', innodb_file_per_table ', @@innodb_file_per_table, ', innodb_purge_threads ', @@innodb_purge_threads, ', innodb_max_purge_lag ', @@innodb_max_purge_lag)")"
    header="| t (s) | consumed msg/s in the interval | tablespace file (KiB) | live rows | history list length | free space in the file (KiB) | load (1/5/15 min) |"
fi

dequeued() {
    curl -s "http://127.0.0.1:$admin_port/metrics" |
        awk '/^baton_destination_dequeued_total\{destination="\/queue\/churn"\}/ {print $2; f=1} END {if (!f) print 0}'
}
sample() { # size-in-bytes live to-clean-up cleaned
    if [ "$backend" = postgres ]; then
        psql_ -d "$db" -F ' ' -c "SELECT pg_total_relation_size('baton_msgs'), n_live_tup, n_dead_tup, autovacuum_count FROM pg_stat_user_tables WHERE relname = 'baton_msgs'"
    else
        mysql_ -N -e "SELECT (SELECT FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME = '$db/baton_msgs'), (SELECT COUNT(*) FROM \`$db\`.baton_msgs), (SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'), (SELECT DATA_FREE DIV 1024 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$db' AND TABLE_NAME = 'baton_msgs')" | tr '\t' ' '
    fi
}

log "produce + consume for $secs s on $backend ($producers producers, $consumers consumers; $cleanup_setting)"
"$baton" bench --addr "127.0.0.1:$stomp_port" --destination /queue/churn --persistent \
    --producers "$producers" --consumers "$consumers" --duration "$secs" \
    --drain-timeout 120 --timeout $((secs + 300)) >"$work/bench.txt" 2>&1 &
pids+=($!)
bench_pid=$!

rows=() last=0 t=0
while [ "$t" -lt "$secs" ]; do
    sleep "$every"
    t=$((t + every))
    now=$(dequeued)
    read -r size live dead vacuums <<<"$(sample)"
    rate=$(((${now%.*} - ${last%.*}) / every))
    last=$now
    rows+=("| $t | $rate | $((size / 1024)) | $live | $dead | $vacuums | $(loadavg) |")
    log "t=${t}s rate=${rate}/s size=$((size / 1024)) KiB live=$live to-clean=$dead cleaned=$vacuums"
done
wait "$bench_pid" || log "baton bench exited non-zero (see below)"

cat <<EOF
### Churn: Baton on $backend, persistent produce + consume for $secs s

- command: \`CHURN_DB=$backend CHURN_SECS=$secs CHURN_EVERY=$every CHURN_PRODUCERS=$producers CHURN_CONSUMERS=$consumers CHURN_BATON_ARGS="${CHURN_BATON_ARGS:-}" scripts/bench/churn.sh\`
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores; load at the end: $(loadavg)
- $cleanup_setting
- 1 KiB bodies, client-individual acks, receipts per send

$header
|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

\`baton bench\` report:

\`\`\`
$(cat "$work/bench.txt")
\`\`\`
EOF
