#!/usr/bin/env bash
# Does a batch's DELETE wait for rows another transaction holds? On Baton's
# MySQL schema, in READ COMMITTED (the store's level): one session inserts U
# messages and keeps its transaction open for HOLD seconds (as a pipelined
# batch waiting for its turn); meanwhile another deletes the N committed
# messages, with the statement the MySQL store used before session 11
# (`DELETE ... WHERE id IN (...)`) and with the one it uses now
# (`delete_by_primary_key`: a derived table of ids STRAIGHT_JOINed to the
# messages). Prints the plan InnoDB chose and how long each DELETE took;
# one that waited took about HOLD seconds.
#
#   scripts/bench/mariadb-delete-locks.sh > delete-locks.md
# Environment: BENCH_MY (127.0.0.1:3306, user root, no password), HOLD (2).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
my=${BENCH_MY:-127.0.0.1:3306}
hold=${HOLD:-2}
db="bench_delete_locks_$$"
m() { mysql -uroot -h"${my%:*}" -P"${my#*:}" "$@"; }
m -e 'SELECT 1' >/dev/null || { echo "cannot reach MariaDB/MySQL at $my as root" >&2; exit 1; }
m -e "CREATE DATABASE $db"
trap 'm -e "DROP DATABASE IF EXISTS $db"' EXIT

rows() { # first last -> "(id,'/queue/q','{}',''),..."
    seq "$1" "$2" | sed "s/.*/(&,'\/queue\/q','{}','')/" | paste -sd,
}

run() { # committed uncommitted statement-kind
    local n=$1 u=$2 kind=$3 ids sql plan start end
    m "$db" -e "DROP TABLE IF EXISTS msgs"
    sed 's/{prefix}//g' migrations/mysql/0001_init.sql | m "$db"
    m "$db" -e "INSERT INTO msgs (id, destination, headers, body) VALUES $(rows 1 "$n")"
    ids=$(seq 1 "$n" | paste -sd,)
    if [ "$kind" = in ]; then
        sql="DELETE FROM msgs WHERE id IN ($ids)"
        plan=$(m "$db" -N -e "EXPLAIN $sql" | cut -f4)
    else
        sql="DELETE m FROM ($(seq 1 "$n" | sed 's/.*/SELECT CAST(& AS SIGNED) AS id/' | paste -sd'|' | sed 's/|/ UNION ALL /g')) AS k STRAIGHT_JOIN msgs AS m ON m.id = k.id"
        plan=$(m "$db" -N -e "EXPLAIN $sql" | awk -F'\t' '$3 == "m" {print $4}')
    fi
    m "$db" -e "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN;
        INSERT INTO msgs (id, destination, headers, body) VALUES $(rows 1001 $((1000 + u)));
        SELECT SLEEP($hold); COMMIT" >/dev/null &
    sleep 0.3
    start=$(date +%s.%N)
    m "$db" -e "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
        SET SESSION innodb_lock_wait_timeout = $((hold * 5)); BEGIN; $sql; COMMIT"
    end=$(date +%s.%N)
    wait
    printf '| %s | %s | %s | %s | %.3f s |\n' "$n" "$u" \
        "$([ "$kind" = in ] && echo '`DELETE ... IN`' || echo 'by primary key')" "$plan" "$(echo "$end - $start" | bc)"
}

echo "### A DELETE next to another transaction's uncommitted rows"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); server: $(m -N -e 'SELECT VERSION()'); the other transaction holds for $hold s"
echo
echo "| committed rows N (deleted) | uncommitted rows U | statement | plan of msgs | the DELETE took |"
echo "|---|---|---|---|---|"
for nu in "2 1" "4 1" "8 8" "16 16" "50 16"; do
    for kind in in pk; do
        # shellcheck disable=SC2086
        run $nu "$kind"
    done
done
