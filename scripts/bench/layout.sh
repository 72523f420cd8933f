#!/usr/bin/env bash
# Issue 6, item 2: which message-table layout stays healthier under churn on
# PostgreSQL, measured with pgbench alone (no broker in the way), the same
# write pattern for each:
#   single   one table, and `VACUUM msgs` every LAYOUT_EVERY seconds
#   keep     the same with `VACUUM (TRUNCATE false) msgs`: the empty pages at
#            the table's end are kept for the next inserts instead of being
#            cut off, which takes an ACCESS EXCLUSIVE lock that stalls every
#            insert and delete meanwhile
#            (Baton's `database.vacuum_interval_ms` runs this one)
#   rotate   the same table partitioned by id range (LAYOUT_PART_IDS ids per
#            partition, PgQ-style rotation): every LAYOUT_EVERY seconds the
#            next partitions are created ahead and every partition below the
#            oldest live id is dropped, so its dead tuples go without VACUUM
#            (and no VACUUM runs at all)
# Pattern: one pgbench client, each transaction one statement as Baton's
# single-statement commit (src/store/postgres/commit.rs): the fencing
# `SELECT ... FOR SHARE`, an insert of LAYOUT_BATCH 1 KiB rows with new ids,
# and the delete of the rows the previous transaction inserted (produce +
# consume at once, consumers right behind producers).
#
#   scripts/bench/layout.sh > layout.md
#
# Environment: LAYOUT_SECS (180 per layout), LAYOUT_EVERY (10),
# LAYOUT_BATCH (16), LAYOUT_PART_IDS (50000), LAYOUTS ("single keep
# rotate"), BENCH_PG (127.0.0.1:5432).
# Bounded: each pgbench has -T; the databases are dropped on exit.
set -euo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "$0")/../.." && pwd)
LOG_TAG=layout
# shellcheck source=scripts/bench/common.sh
. "$repo/scripts/bench/common.sh"
command -v pgbench >/dev/null || apt_install postgresql-contrib
bench_init baton-layout

secs=${LAYOUT_SECS:-180} every=${LAYOUT_EVERY:-10}
batch=${LAYOUT_BATCH:-16} part_ids=${LAYOUT_PART_IDS:-50000}
body=$(head -c 1024 /dev/zero | tr '\0' x)

schema() { # layout: Baton's msgs and lock tables, plain or partitioned by id
    local partition=""
    [ "$1" = rotate ] && partition="PARTITION BY RANGE (id)"
    cat <<SQL
CREATE TABLE lock (name TEXT PRIMARY KEY, epoch BIGINT NOT NULL DEFAULT 0);
INSERT INTO lock VALUES ('baton', 0);
CREATE SEQUENCE ids;
CREATE TABLE msgs (
    id BIGINT PRIMARY KEY, destination TEXT NOT NULL, priority SMALLINT NOT NULL DEFAULT 4,
    expires BIGINT NOT NULL DEFAULT 0, scheduled BIGINT NOT NULL DEFAULT 0, producer_id TEXT,
    producer_seq BIGINT, redeliveries INTEGER NOT NULL DEFAULT 0, headers TEXT NOT NULL,
    body BYTEA NOT NULL) $partition;
CREATE INDEX msgs_destination ON msgs (destination, priority, id);
SQL
}

cat >"$work/churn.sql" <<'SQL'
WITH fence AS (SELECT epoch FROM lock WHERE name = 'baton' FOR SHARE),
ins AS (INSERT INTO msgs (id, destination, priority, expires, redeliveries, headers, body)
  SELECT nextval('ids'), '/queue/churn', 4, 0, 0, '[]', :body::bytea FROM generate_series(1, :batch)
  WHERE EXISTS (SELECT 1 FROM fence WHERE epoch = 0) RETURNING id),
del AS (DELETE FROM msgs WHERE id = ANY(:prev::bigint[]))
SELECT array_agg(id) AS prev FROM ins
\gset
SQL

# Partitions [k * part_ids, (k + 1) * part_ids) ahead of the newest id, and
# the drop of every partition wholly below the oldest live id.
rotate() { # db
    local db=$1 top low k
    top=$(psql_ -d "$db" -c "SELECT last_value FROM ids")
    low=$(psql_ -d "$db" -c "SELECT coalesce(min(id), $top) FROM msgs")
    for k in $(seq $((top / part_ids)) $((top / part_ids + 8))); do
        psql_ -d "$db" -c "SET client_min_messages = warning" -c "CREATE TABLE IF NOT EXISTS msgs_p$k PARTITION OF msgs FOR VALUES FROM ($((k * part_ids))) TO ($(((k + 1) * part_ids)))"
    done
    for k in $(psql_ -d "$db" -c "SELECT substr(c.relname, 7) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'msgs'::regclass"); do
        if [ $(((k + 1) * part_ids)) -le "$low" ]; then
            psql_ -d "$db" -c "DROP TABLE msgs_p$k"
        fi
    done
}
maintain() { # layout db
    if [ "$1" = rotate ]; then
        rotate "$2"
    elif [ "$1" = keep ]; then
        psql_ -d "$2" -c "VACUUM (TRUNCATE false) msgs"
    else
        psql_ -d "$2" -c "VACUUM msgs"
    fi
}
sample() { # db -> size-bytes live dead partitions
    psql_ -d "$1" -F ' ' -c "SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0),
        coalesce(sum(s.n_live_tup), 0), coalesce(sum(s.n_dead_tup), 0), count(*) FILTER (WHERE t.isleaf)
        FROM (SELECT relid, isleaf FROM pg_partition_tree('msgs')
              UNION SELECT 'msgs'::regclass, relkind = 'r' FROM pg_class WHERE oid = 'msgs'::regclass) t
        LEFT JOIN pg_stat_user_tables s ON s.relid = t.relid"
}

report=""
for layout in ${LAYOUTS:-single keep rotate}; do
    db=bench_layout_${layout}_$$
    create_db "pg:$db"
    schema "$layout" | psql_ -d "$db" -v ON_ERROR_STOP=1 >/dev/null
    [ "$layout" = rotate ] && rotate "$db"
    log "$layout: pgbench for $secs s, maintenance every $every s"
    pgbench -h "$pg_host" -p "$pg_port" -U postgres -n -M prepared -c 1 -j 1 -T "$secs" -P "$every" \
        -D batch="$batch" -D body="$body" -D prev='{}' -f "$work/churn.sql" "$db" \
        >"$work/$layout.out" 2>"$work/$layout.progress" &
    bench=$!
    pids+=("$bench")
    rows="" t=0
    while [ "$t" -lt "$secs" ]; do
        sleep "$every"
        t=$((t + every))
        maintain "$layout" "$db" || log "$layout: maintenance failed at t=$t"
        read -r size live dead parts <<<"$(sample "$db")"
        rows+="| $t | $((size / 1024)) | $live | $dead | $parts | $(loadavg) |"$'\n'
        log "$layout t=${t}s size=$((size / 1024)) KiB live=$live dead=$dead partitions=$parts"
    done
    wait "$bench" || { cat "$work/$layout.progress" >&2; die "pgbench failed ($layout)"; }
    tps=$(awk '/^tps = / {print $3}' "$work/$layout.out")
    rates=$(awk -v b="$batch" '/^progress:/ {printf "%.0f ", $4 * b}' "$work/$layout.progress")
    report+="
#### $layout: $(awk -v t="$tps" -v b="$batch" 'BEGIN {printf "%.0f", t * b}') rows/s inserted (and as many deleted) over $secs s

rows/s per ${every} s interval (pgbench \`-P\`): $rates

| t (s) | size of msgs, all partitions (KiB) | live tuples | dead tuples | partitions |load (1/5/15 min) |
|---|---|---|---|---|---|
$rows"
    drop_db "pg:$db"
done

cat <<EOF
### Message-table layouts under churn: one table + VACUUM (with and without truncation) vs partition rotation

- command: \`LAYOUT_SECS=$secs LAYOUT_EVERY=$every LAYOUT_BATCH=$batch LAYOUT_PART_IDS=$part_ids scripts/bench/layout.sh\`
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores; $(psql_ -c 'select version()' | cut -d' ' -f1-2), autovacuum $(psql_ -c 'show autovacuum')
- pgbench, 1 client, \`-M prepared\`; each transaction inserts $batch rows of 1 KiB and deletes the $batch the previous one inserted, in one statement
$report
EOF
