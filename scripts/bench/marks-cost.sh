#!/usr/bin/env bash
# What the producer marks cost PostgreSQL: pgbench with the single-statement
# commit of pgbench-limit.sh (8 rows per transaction, the size of a batch of
# 16 synchronous producers in two cohorts, one client), three ways:
#   none     the messages only (a `baton bench` STOMP run: no producer ids)
#   upsert   plus one producer row per message, as the PostgreSQL store
#            writes it (INSERT ... ON CONFLICT DO UPDATE SET last_seq =
#            GREATEST(...)), 8 producers updated in every transaction
#   update   the same rows with a plain UPDATE ... FROM UNNEST instead
# on Baton's own schema, alternating the three BENCH_ROUNDS times.
#
#   scripts/bench/marks-cost.sh > marks.md
# Environment: BENCH_PG (127.0.0.1:5432, user postgres, trust), PG_SECS
# (seconds per run, 8), BENCH_ROUNDS (3), BENCH_WAIT_QUIET (see common.sh;
# default 0 here).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=marks-cost
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
SECS=${PG_SECS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
BATCH=8
command -v pgbench >/dev/null || apt_install postgresql-contrib
psql_ -c 'select 1' >/dev/null || die "cannot reach PostgreSQL at $PG as postgres"
bench_init marks-cost

db="bench_marks_$$"
create_db "pg:$db"
sed 's/{prefix}//g' "$repo/migrations/postgres/0001_init.sql" | psql_ -d "$db" -v ON_ERROR_STOP=1 >/dev/null
# Producer ids as long as an OpenWire ProducerId; no ':' (pgbench variables).
producer="'ID-producer-host-12345-1733480000000-1-1-1-'"
psql_ -d "$db" -c "INSERT INTO producers SELECT $producer || g, 0, 0 FROM generate_series(1, $BATCH) g" >/dev/null

script() { # none|upsert|update
    cat <<'SQL'
\set b :b + 1
\set lo :client_id * 1000000000000 + :b * :batch
\set hi :lo + :batch - 1
SQL
    pgbench_insert_cte
    local marks="UNNEST(ARRAY(SELECT $producer || g FROM generate_series(1, :batch::int) g), array_fill(:b::bigint, ARRAY[:batch::int])) AS u(id, seq)"
    local now="(extract(epoch from clock_timestamp()) * 1000)::bigint"
    case $1 in
    upsert) echo ", prod AS (INSERT INTO producers (producer_id, last_seq, updated_at) SELECT u.id, u.seq, $now FROM $marks WHERE EXISTS (SELECT 1 FROM ours) ON CONFLICT (producer_id) DO UPDATE SET last_seq = GREATEST(producers.last_seq, EXCLUDED.last_seq), updated_at = EXCLUDED.updated_at)" ;;
    update) echo ", prod AS (UPDATE producers p SET last_seq = GREATEST(p.last_seq, u.seq), updated_at = $now FROM $marks WHERE p.producer_id = u.id AND EXISTS (SELECT 1 FROM ours))" ;;
    esac
    echo 'SELECT epoch FROM fence;'
}
for form in none upsert update; do script "$form" >"$work/$form.sql"; done
body=$(head -c 1024 /dev/zero | tr '\0' x)

BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0} wait_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
rows_md=""
for round in $(seq 1 "$ROUNDS"); do
    for form in none upsert update; do
        psql_ -d "$db" -c "TRUNCATE msgs" -c "VACUUM ANALYZE msgs" -c "VACUUM producers" >/dev/null
        log "round $round: $form"
        out=$(pgbench -h "$pg_host" -p "$pg_port" -U postgres -n -M prepared -c 1 -j 1 \
            -T "$SECS" -D b=0 -D batch="$BATCH" -D body="$body" -f "$work/$form.sql" "$db" 2>&1) ||
            { echo "$out" >&2; die "pgbench failed"; }
        tps=$(echo "$out" | awk '/^tps = / {printf "%.0f", $3}')
        lat=$(echo "$out" | awk '/^latency average = / {print $4}')
        rows_md+="| $round | $form | $tps | $lat |"$'\n'
    done
done

cat <<EOF
### What the producer marks cost PostgreSQL (pgbench)

- date: $started_at; $(psql_ -c 'select version()' | cut -d' ' -f1-2), \`synchronous_commit\` $(psql_ -c 'show synchronous_commit'), \`fsync\` $(psql_ -c 'show fsync')
- \`pgbench -n -M prepared -c 1 -j 1 -T $SECS\`, $BATCH messages of 1 KiB per transaction in the single-statement commit, plus (upsert, update) one row per message in \`producers\` ($BATCH producers, each updated in every transaction); command: \`scripts/bench/marks-cost.sh\`

| round | form | transactions/s | latency ms |
|---|---|---|---|
$rows_md
EOF
