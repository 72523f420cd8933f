#!/usr/bin/env bash
# Long form of the chaos soak (tests/chaos.rs, docs/high-availability.md "Guarantees"): three
# nodes per backend, producers and consumers through the failover client,
# while the master is killed with -9, stopped with SIGTERM and cut off from
# its database, over and over. The test command runs the same test in a short
# form (6 faults per backend).
#
#   scripts/soak.sh [postgres|mariadb|all]     (default all, one after the other)
#
# BATON_SOAK_SECONDS  time for injecting faults, per backend (default 1800)
# BATON_SOAK_FAULTS   most faults per backend (default 100000: time-bound)
# BATON_SOAK_MODE     election mode: session, lease or auto (default auto =
#                     session on both backends)
# BATON_SOAK_PIPELINE the nodes' database.pipeline (default: the default, 1)
#
# Needs the servers the test command uses (PostgreSQL 127.0.0.1:5432, user
# postgres, trust; MariaDB 127.0.0.1:3306, root without password). Each run
# is bounded: after BATON_SOAK_SECONDS + 300 s the whole process group
# (cargo, the test, its baton nodes) is killed. A killed run leaves its test
# database behind (soak databases are named like every test's, see
# tests/common/testdb.rs). Full logs: target/soak-<backend>.log; the counts
# (the "SOAK" lines) are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BATON_SOAK_SECONDS:-1800}
faults=${BATON_SOAK_FAULTS:-100000}
case "${1:-all}" in
    all) backends=(postgres mariadb) ;;
    postgres | mariadb) backends=("$1") ;;
    *)
        echo "usage: $0 [postgres|mariadb|all] (got '$1')" >&2
        exit 2
        ;;
esac
case "$seconds$faults" in
    *[!0-9]*)
        echo "BATON_SOAK_SECONDS and BATON_SOAK_FAULTS must be whole numbers" >&2
        exit 2
        ;;
esac

cargo test --release --test chaos --no-run
: >target/soak-machine.log
status=0
for backend in "${backends[@]}"; do
    log="target/soak-$backend.log"
    echo "soak on $backend: start $(date -u '+%F %T') UTC, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >>"target/soak-machine.log"
    echo "soak on $backend (election mode ${BATON_SOAK_MODE:-auto}, pipeline ${BATON_SOAK_PIPELINE:-default}): up to $faults faults within $seconds s (log: $log)" >&2
    if ! BATON_SOAK_SECONDS=$seconds BATON_SOAK_FAULTS=$faults \
        timeout -s KILL $((seconds + 300)) \
        cargo test --release --test chaos -- --nocapture --exact \
        "${backend}_soak_survives_kills_stops_and_database_cuts_of_the_master" \
        >"$log" 2>&1; then
        status=1
        echo "soak on $backend FAILED; last lines of $log:" >&2
        grep -v '^{' "$log" | tail -n 40 >&2
    fi
    echo "soak on $backend: end $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" >>"target/soak-machine.log"
done
echo "---- machine ----"
cat target/soak-machine.log
echo "---- counts ----"
for backend in "${backends[@]}"; do
    grep -h -E '^SOAK|client failovers' "target/soak-$backend.log" || echo "SOAK $backend: no summary (see target/soak-$backend.log)"
done
exit $status
