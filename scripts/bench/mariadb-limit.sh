#!/usr/bin/env bash
# MariaDB's own limit for Baton's write pattern: what one group commit of
# the MySQL store (src/store/mysql.rs, commit_plan) sends today, on Baton's
# own schema (migrations/mysql/*.sql, no prefix) with its lock row, 1 KiB
# bodies, one client and 16 (MY_CLIENTS) committing MY_BATCH rows each:
#   BEGIN; INSERT INTO msgs (...) VALUES <batch rows>;
#   [DELETE FROM msgs WHERE id IN (<the same client's previous batch>);]
#   [INSERT INTO producers ... ON DUPLICATE KEY UPDATE last_seq =
#   GREATEST(...);] SELECT epoch FROM lock WHERE name = 'baton' LOCK IN
#   SHARE MODE; COMMIT
# in three forms:
#   multi   one statement per round trip, as the store does today (sysbench,
#           scripts/bench/mariadb-limit.lua)
#   joined  the same statements as ONE multi-statement request (mariadb-slap
#           with a --query file, no --delimiter; sysbench 1.0 cannot read the
#           several results of such a request). The fence's result comes
#           back after the COMMIT: the cost of the round trips alone, not a
#           form the store could use as it is.
#   block   ONE round trip that keeps the fence: a compound statement
#           (BEGIN NOT ATOMIC ... SELECT epoch INTO e ... LOCK IN SHARE MODE;
#           IF e <> 0 THEN ROLLBACK; SIGNAL ...; END IF; COMMIT; END), sysbench
# "insert" runs leave the rows (producers only); "insert+delete" runs delete
# the previous batch in the same transaction (produce + consume at once).
# Before each run: the tables truncated, 1000 filler rows of another
# destination and fresh statistics (on an empty table's statistics the
# DELETE is planned as a full scan that waits for other clients' rows).
#
#   scripts/bench/mariadb-limit.sh > limit.md
# Environment: BENCH_MY (127.0.0.1:3306, user root, empty password),
# MY_SECS (seconds per run, default 8), MY_CLIENTS (client counts to run,
# "1 16": one client is what Baton's single writer can do at most, the same
# kind of figure as pgbench-limit.sh's one client at 16 rows per commit;
# sixteen is the server's limit with concurrent writers), MY_BATCH (rows per
# transaction, 16), MY_MARKS (1: write the producer marks, as OpenWire and
# failover clients make the store do; 0: leave them out, as `baton bench`
# over STOMP sends no producer ids), MY_RESULTS (also write "kind batch
# clients rows/s" lines to this file; kinds insert and insert+delete for the
# multi form, <kind>/joined and <kind>/block for the others),
# BENCH_WAIT_QUIET (see common.sh; default 0 here), BENCH_KEEP_TMP=1.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=mariadb-limit
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
SECS=${MY_SECS:-8}
CLIENTS_LIST=${MY_CLIENTS:-1 16}
BATCH=${MY_BATCH:-16}
MARKS=${MY_MARKS:-1}
SIZE=1024
FILLER=1000
lua="$repo/scripts/bench/mariadb-limit.lua"

command -v sysbench >/dev/null || apt_install sysbench
if ! command -v mysql >/dev/null || ! command -v mariadb-slap >/dev/null; then apt_install mariadb-client; fi
mysql_ -e 'select 1' >/dev/null || die "cannot reach MariaDB at $MY as root"
bench_init mariadb-limit

db="bench_mylimit_$$"
create_db "my:$db"
# The migrations as the store runs them, without the prefix; the lock row
# is inserted by 0001 as the election would find it (epoch 0).
for f in "$repo"/migrations/mysql/*.sql; do
    sed 's/{prefix}//g' "$f" | mysql_ "$db"
done
[ "$(mysql_ -N "$db" -e "SELECT epoch FROM \`lock\` WHERE name = 'baton'")" = 0 ] ||
    die "no lock row with epoch 0 after the migrations"

# The joined form for mariadb-slap: one request of ;-separated statements
# (no --delimiter: sent as one COM_QUERY, every result read). Ids from a
# session variable per connection: CONNECTION_ID() * 10^12 + 16 per batch.
joined() { # with-delete(0|1)
    local i vals=() ids=() marks=() body
    body=$(head -c "$SIZE" /dev/zero | tr '\0' x)
    for ((i = 0; i < BATCH; i++)); do
        vals+=("(@b + $i, '/queue/bench', 4, 0, 0, 0, '{\"persistent\":\"true\"}', '$body')")
        ids+=("@b - $((BATCH - i))")
        marks+=("(CONCAT('bench-', CONNECTION_ID(), '-$i'), @b, $NOW_MS)")
    done
    local IFS=,
    printf '%s; ' "SET @b = IFNULL(@b, CONNECTION_ID() * 1000000000000) + $BATCH" BEGIN \
        "INSERT INTO msgs (id, destination, priority, expires, scheduled, redeliveries, headers, body) VALUES ${vals[*]}"
    [ "$1" = 1 ] && printf '%s; ' "DELETE FROM msgs WHERE id IN (${ids[*]})"
    [ "$MARKS" = 1 ] && printf '%s; ' "INSERT INTO producers (producer_id, last_seq, updated_at) VALUES ${marks[*]} ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq, VALUES(last_seq)), updated_at = VALUES(updated_at)"
    printf '%s; %s' "SELECT epoch FROM \`lock\` WHERE name = 'baton' LOCK IN SHARE MODE" COMMIT
}
NOW_MS="CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000 AS SIGNED)"
joined 0 >"$work/insert.sql"
joined 1 >"$work/insert-delete.sql"
# Baton's session settings (src/store/mysql.rs, setup_session), as the Lua
# script sets them.
init="SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES'), SESSION innodb_lock_wait_timeout = 30"
[ "$(mysql_ -N -e 'SELECT @@binlog_format')" = STATEMENT ] || init+=", SESSION tx_isolation = 'READ-COMMITTED'"

BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0} wait_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(loadavg)
marks_flag=on
[ "$MARKS" = 1 ] || marks_flag=off
# kind form: multi (sysbench, one statement per round trip, as today),
# joined (mariadb-slap, one multi-statement request), block (sysbench, one
# compound statement).
runs=()
for CLIENTS in $CLIENTS_LIST; do
    for kind in insert insert+delete; do
        for form in multi joined block; do runs+=("$kind $form $CLIENTS"); done
    done
done
rows_md=""
declare -A tps_of
for r in "${runs[@]}"; do
    read -r kind form CLIENTS <<<"$r"
    delete=off
    [ "$kind" = insert+delete ] && delete=on
    key=$kind/$form
    # Round trips of one batch: BEGIN, INSERT, [DELETE], [marks], fence, COMMIT.
    rt=1
    if [ "$form" = multi ]; then
        rt=4
        [ "$delete" = on ] && rt=$((rt + 1))
        [ "$MARKS" = 1 ] && rt=$((rt + 1))
        key=$kind
    fi
    # 1000 rows of another destination (ids below 0, which no client uses),
    # and fresh statistics: on an empty table's statistics the optimizer
    # plans DELETE ... WHERE id IN (...) as a full scan, which under
    # concurrent commits waits for the other clients' uncommitted rows
    # (convoys, deadlocks) until InnoDB recalculates them in the background.
    mysql_ "$db" -e "TRUNCATE msgs; TRUNCATE producers;
        INSERT INTO msgs (id, destination, headers, body) SELECT -1 - CAST(seq AS SIGNED), '/queue/filler', '{}', REPEAT('x', $SIZE) FROM seq_0_to_$((FILLER - 1));
        ANALYZE TABLE msgs" >/dev/null
    errors="?"
    if [ "$form" = joined ]; then
        # mariadb-slap runs a number of requests, not a time: as many as the
        # multi form did in MY_SECS, at least 20 per client.
        n=$(awk -v t="${tps_of[$kind/$CLIENTS]:-0}" -v s="$SECS" -v c="$CLIENTS" \
            'BEGIN {n = int(t * s / c); if (n < 20) n = 20; print n * c}')
        f=insert.sql
        [ "$delete" = on ] && f=insert-delete.sql
        log "$key: 1 round trip, batch $BATCH, $CLIENTS client(s), $n requests"
        out=$(timeout $((SECS * 5 + 60)) mariadb-slap -h "$my_host" -P "$my_port" -uroot \
            --create-schema="$db" --no-drop --concurrency="$CLIENTS" --iterations=1 \
            --number-of-queries="$n" --init-command="$init" --query="$work/$f" 2>&1) ||
            { echo "$out" >&2; die "mariadb-slap failed"; }
        secs=$(echo "$out" | awk '/Average number of seconds to run all queries/ {print $(NF - 1)}')
        [ -n "$secs" ] || { echo "$out" >&2; die "no time in mariadb-slap's output"; }
        tps=$(awk -v n="$n" -v s="$secs" 'BEGIN {if (s > 0) printf "%.2f", n / s; else print 0}')
        lat=$(awk -v n="$n" -v s="$secs" -v c="$CLIENTS" 'BEGIN {if (n > 0) printf "%.2f", s * 1000 * c / n}')
        how="1 (one multi-statement request, mariadb-slap; fence read after COMMIT)"
    else
        log "$key: $rt round trip(s), batch $BATCH, $CLIENTS client(s), $SECS s"
        out=$(sysbench --db-driver=mysql --mysql-host="$my_host" --mysql-port="$my_port" --mysql-user=root \
            --mysql-password= --mysql-db="$db" --threads="$CLIENTS" --time="$SECS" --events=0 \
            --batch="$BATCH" --size="$SIZE" --delete="$delete" --marks="$marks_flag" --form="$form" \
            "$lua" run 2>&1) || { echo "$out" >&2; die "sysbench failed"; }
        tps=$(echo "$out" | awk '/^ *transactions:/ {gsub(/\(/, "", $3); print $3}')
        lat=$(echo "$out" | awk '/^ *avg:/ {print $2; exit}')
        errors=$(echo "$out" | awk '/^ *ignored errors:/ {print $3}')
        [ -n "$tps" ] || { echo "$out" >&2; die "no transactions/s in sysbench's output"; }
        how="$rt (one statement each, sysbench)"
        [ "$form" = block ] && how="1 (compound statement, sysbench; fence checked before COMMIT)"
    fi
    [ "$form" = multi ] && tps_of[$kind/$CLIENTS]=$tps
    rows=$(awk -v t="$tps" -v b="$BATCH" 'BEGIN {printf "%.0f", t * b}')
    left=$(mysql_ -N "$db" -e "SELECT count(*) FROM msgs WHERE destination = '/queue/bench'")
    # information_schema's sizes are the last statistics: refresh them first.
    mysql_ "$db" -e "ANALYZE TABLE msgs" >/dev/null
    size=$(mysql_ -N "$db" -e "SELECT CONCAT(ROUND((data_length + index_length) / 1048576, 1), ' MiB') FROM information_schema.tables WHERE table_schema = '$db' AND table_name = 'msgs'")
    rows_md+="| $kind | $how | $BATCH | $CLIENTS | $(printf '%.0f' "$tps") | $rows | $lat | ${errors:-?} | $left | $size |"$'\n'
    if [ -n "${MY_RESULTS:-}" ]; then echo "$key $BATCH $CLIENTS $rows" >>"$MY_RESULTS"; fi
done
load_end=$(loadavg)

var() { mysql_ -N -e "SELECT @@$1"; }
cat <<EOF
### MariaDB alone: Baton's commit pattern with sysbench and mariadb-slap

- date: $started_at; load average (1/5/15 min) $load_start at the start, $load_end at the end
- MariaDB $(var version), $MY, server settings as found (\`innodb_flush_log_at_trx_commit\` $(var innodb_flush_log_at_trx_commit), \`sync_binlog\` $(var sync_binlog), \`log_bin\` $(var log_bin), \`innodb_buffer_pool_size\` $(var innodb_buffer_pool_size)); $(sysbench --version); $(mariadb-slap --version | sed "s/^[^ ]* */mariadb-slap /")
- \`sysbench --db-driver=mysql --threads=<clients> --time=$SECS --batch=$BATCH --size=$SIZE --delete=<on|off> --marks=$marks_flag --form=<multi|block> scripts/bench/mariadb-limit.lua run\` on a fresh database with Baton's schema (\`migrations/mysql/*.sql\`, no prefix) and its lock row (epoch 0); \`msgs\` and \`producers\` truncated before each run, then $FILLER rows of another destination put in \`msgs\` and its statistics refreshed (on an empty table's statistics \`DELETE ... WHERE id IN (...)\` is planned as a full scan, which waits for the other clients' uncommitted rows); Baton's session settings (READ COMMITTED, strict mode)
- one transaction per batch, as Baton's MySQL store: \`BEGIN\`; \`INSERT INTO msgs (...) VALUES\` $BATCH rows; [\`DELETE FROM msgs WHERE id IN (<the client's previous batch>)\`]; $([ "$MARKS" = 1 ] && echo "\`INSERT INTO producers ... ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq, VALUES(last_seq)), ...\` ($BATCH marks, the client's own producers)" || echo "no producer marks (MY_MARKS=0)"); \`SELECT epoch FROM lock WHERE name = 'baton' LOCK IN SHARE MODE\`; \`COMMIT\`. Literal values (text protocol), where Baton binds them (prepared statements).
- forms: one statement per round trip as today (sysbench); the same statements joined with \`;\` as one request (\`mariadb-slap --concurrency=<clients> --iterations=1 --number-of-queries=<as many as the first form did in $SECS s> --query=<file>\`, time from its average; the fence's result arrives after the COMMIT, so this is the round trips' cost, not a usable commit; mariadb-slap counts no errors); one compound statement \`BEGIN NOT ATOMIC ... SELECT epoch INTO e FROM lock ... LOCK IN SHARE MODE; IF e <> 0 THEN ROLLBACK; SIGNAL ...; END IF; COMMIT; END\` (sysbench), one round trip that keeps the fence. errors = deadlocks and lock wait timeouts sysbench ignored and retried (its default \`--mysql-ignore-errors\`)

| work | round trips per batch | rows per transaction | clients | transactions/s | rows/s | latency avg ms | errors | rows left | table size after (with the filler) |
|---|---|---|---|---|---|---|---|---|---|
$rows_md
EOF
