#!/usr/bin/env bash
# The database's own limit for Baton's write pattern: pgbench with a custom
# script that mirrors the PostgreSQL store's group commit
# (src/store/postgres.rs, the single-statement commit): one
# statement per batch, its own transaction,
#   WITH fence AS (SELECT epoch FROM lock WHERE name = $1 FOR SHARE),
#   ours AS (... our epoch), ins AS (INSERT INTO msgs (...) SELECT ... FROM
#   UNNEST(...) WHERE EXISTS (ours)), [del AS (DELETE FROM msgs WHERE id =
#   ANY(<the same client's previous batch>) AND EXISTS (ours))]
#   SELECT epoch FROM fence
# on Baton's own schema (migrations/postgres/0001_init.sql), 1 KiB bodies.
# "insert" runs leave the rows (producers only); "insert+delete" runs delete
# the previous batch in the same transaction (produce + consume at once).
#
#   scripts/bench/pgbench-limit.sh > limit.md
# Environment: BENCH_PG (127.0.0.1:5432, user postgres, trust), PG_SECS
# (seconds per run, default 8), PG_RUNS ("kind batch clients" runs, comma-separated,
# instead of the default set), PG_RESULTS (also write "kind batch clients
# rows/s" lines to this file), BENCH_WAIT_QUIET (see common.sh; default 0
# here).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=pgbench-limit
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
SECS=${PG_SECS:-8}
SIZE=1024

command -v pgbench >/dev/null || apt_install postgresql-contrib
command -v psql >/dev/null || apt_install postgresql-client
psql_ -c 'select 1' >/dev/null || die "cannot reach PostgreSQL at $PG as postgres"
bench_init pgbench-limit

db="bench_pglimit_$$"
create_db "pg:$db"
sed 's/{prefix}//g' "$repo/migrations/postgres/0001_init.sql" | psql_ -d "$db" -v ON_ERROR_STOP=1 >/dev/null

# Ids: client c, batch b -> c * 10^12 + b * batch + 0..batch-1. pgbench keeps
# each client's variables across transactions, so :b counts its batches and
# the previous batch is (:b - 1).
script() { # with-delete(0|1)
    cat <<'SQL'
\set b :b + 1
\set lo :client_id * 1000000000000 + :b * :batch
\set hi :lo + :batch - 1
\set dlo :lo - :batch
\set dhi :lo - 1
SQL
    pgbench_insert_cte
    if [ "$1" = 1 ]; then
        echo ', del AS (DELETE FROM msgs WHERE id = ANY(ARRAY(SELECT generate_series(:dlo::bigint, :dhi::bigint))) AND EXISTS (SELECT 1 FROM ours))'
    fi
    echo 'SELECT epoch FROM fence;'
}
script 0 >"$work/insert.sql"
script 1 >"$work/insert-delete.sql"
body=$(head -c "$SIZE" /dev/zero | tr '\0' x)

BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0} wait_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(loadavg)
# kind batch clients
runs=(
    "insert 1 1" "insert 16 1" "insert 128 1" "insert 1024 1" "insert 128 2"
    "insert+delete 16 1" "insert+delete 128 1" "insert+delete 1024 1" "insert+delete 128 2"
)
if [ -n "${PG_RUNS:-}" ]; then # e.g. "insert 8 2,insert 16 1"
    IFS=, read -r -a runs <<<"$PG_RUNS"
fi
rows_md=""
for r in "${runs[@]}"; do
    read -r kind batch clients <<<"$r"
    f=insert.sql
    [ "$kind" = insert+delete ] && f=insert-delete.sql
    psql_ -d "$db" -c "TRUNCATE msgs" -c "VACUUM ANALYZE msgs" >/dev/null
    log "$kind, batch $batch, $clients client(s), $SECS s"
    out=$(pgbench -h "$pg_host" -p "$pg_port" -U postgres -n -M prepared -c "$clients" -j "$clients" \
        -T "$SECS" -D b=0 -D batch="$batch" -D body="$body" -f "$work/$f" "$db" 2>&1) ||
        { echo "$out" >&2; die "pgbench failed"; }
    tps=$(echo "$out" | awk '/^tps = / {print $3}')
    lat=$(echo "$out" | awk '/^latency average = / {print $4}')
    rows=$(awk -v t="$tps" -v b="$batch" 'BEGIN {printf "%.0f", t * b}')
    left=$(psql_ -d "$db" -c "SELECT count(*) FROM msgs")
    size=$(psql_ -d "$db" -c "SELECT pg_size_pretty(pg_total_relation_size('msgs'))")
    rows_md+="| $kind | $batch | $clients | $(printf '%.0f' "$tps") | $rows | $lat | $left | $size |"$'\n'
    [ -n "${PG_RESULTS:-}" ] && echo "$kind $batch $clients $rows" >>"$PG_RESULTS"
done
load_end=$(loadavg)

cat <<EOF
### PostgreSQL alone: Baton's commit pattern with pgbench

- date: $started_at; load average (1/5/15 min) $load_start at the start, $load_end at the end
- $(psql_ -c 'select version()' | cut -d' ' -f1-2), $PG, default server settings (\`synchronous_commit\` $(psql_ -c 'show synchronous_commit'), \`fsync\` $(psql_ -c 'show fsync'))
- \`pgbench -n -M prepared -c <clients> -j <clients> -T $SECS -D b=0 -D batch=<batch> -D body=<$SIZE × 'x'> -f <script>\` on a fresh database with Baton's schema; the table is truncated and vacuumed before each run
- script: one statement per transaction, as Baton's single-statement commit: \`WITH fence AS (SELECT epoch FROM lock WHERE name = 'baton' FOR SHARE), ours AS (SELECT 1 FROM fence WHERE epoch = 0), ins AS (INSERT INTO msgs (...) SELECT u.* FROM UNNEST(<ids>, <destinations>, <priorities>, <expires>, <redeliveries>, <headers>, <bodies>) AS u WHERE EXISTS (SELECT 1 FROM ours))[, del AS (DELETE FROM msgs WHERE id = ANY(<the client's previous batch>) AND EXISTS (SELECT 1 FROM ours))] SELECT epoch FROM fence\` (the arrays are built server-side with \`generate_series\`/\`array_fill\`)

| work | rows per transaction | clients | transactions/s | rows/s | latency ms | rows left | table size after |
|---|---|---|---|---|---|---|---|
$rows_md
EOF
