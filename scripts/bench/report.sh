# shellcheck shell=bash disable=SC2154,SC2034
# The markdown report of side-by-side.sh (sourced at its end; reads its
# variables: json[], names[], cmdline[], mem_idle[], mem_after[], brokers...).

num() { [ -n "$1" ] && printf '%.0f' "$1" || echo "n/a"; }
ratio() { # a b
    if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN {exit !(b > 0)}'; then
        awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f×", a / b}'
    else
        echo "n/a"
    fi
}
lat3() { # broker case which(send|receive)
    local p
    p=$(get "$1" "$2" ".${3}_latency_ms | if . then \"\(.p50) / \(.p99) / \(.p999)\" else empty end")
    echo "${p:-n/a}"
}
limit() { # kind -> best rows/s over batches > 1
    [ -f "$work/pglimit.txt" ] || { echo ""; return; }
    awk -v k="$1" '$1 == k && $2 > 1 && $4 > m {m = $4} END {if (m) print m}' "$work/pglimit.txt"
}
limit_at() { # kind batch clients
    [ -f "$work/pglimit.txt" ] || { echo ""; return; }
    awk -v k="$1" -v b="$2" -v c="$3" '$1 == k && $2 == b && $3 == c {print $4}' "$work/pglimit.txt"
}
mylimit() { # kind clients -> rows/s of MariaDB's run of that kind (mariadb-limit.sh)
    [ -f "$work/mylimit.txt" ] || { echo ""; return; }
    awk -v k="$1" -v c="$2" '$1 == k && $3 == c {print $4}' "$work/mylimit.txt"
}
has() { for x in "${brokers[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

cat <<EOF
## Side by side: Baton, ActiveMQ (JDBC), RabbitMQ and PostgreSQL's own limit

- date: $started_at
- machine: \`nproc\` = $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal:/ {print $2 " " $3}' /proc/meminfo) RAM, $(uname -sr)
- load average (1/5/15 min): $load_start at the start, $load_end at the end (waited ${waited} s for the 1-minute load to drop below ${BENCH_QUIET_LOAD:-0.8}); 1-minute load after each \`baton bench\` call:$load_samples
- software: $("$baton" --version) ($baton_build, \`$baton\`, modified $(date -u -r "$baton" '+%Y-%m-%d %H:%M:%S UTC')); $(psql_ -c 'select version()' | cut -d' ' -f1-2); MariaDB $(mysql_ -N -e 'select version()' 2>/dev/null || echo n/a); ActiveMQ from Debian package activemq $(dpkg-query -W -f='${Version}' activemq 2>/dev/null || echo n/a) on $(java -version 2>&1 | head -n1); RabbitMQ $(rabbitmqctl -q eval 'rabbit_misc:version().' 2>/dev/null | tr -d '"' || echo n/a)
- load generator: \`baton bench\` on the same machine (it shares the 2 CPUs with the broker and the database); ${SIZE}-byte bodies; each scenario runs ${SECS} s (\`--duration $SECS\`) on its own destination; a 3 s warm-up (4 producers + 4 consumers, persistent) first on each broker, not in the tables; consumers subscribe with \`--prefetch $PREFETCH\` (\`activemq.prefetchSize\` and \`prefetch-count\`)
- msg/s = messages confirmed (sent) or received per second of the scenario; latencies in ms from HdrHistogram: send → RECEIPT (sent) and send → MESSAGE (received)

### Brokers

| key | started with | RSS idle (kB) | RSS after the runs (kB) |
|---|---|---|---|
EOF
for b in "${brokers[@]}"; do
    echo "| ${names[$b]} | \`${cmdline[$b]:-}\` | ${mem_idle[$b]:-?} | ${mem_after[$b]:-?} |"
done
[ -n "${amq_warn:-}" ] && echo && echo "ActiveMQ log: $amq_warn WARN/ERROR lines."
for b in "${brokers[@]}"; do
    [ -n "${broker_warnings[$b]:-}" ] || continue
    # shellcheck disable=SC2016 # the backticks are markdown
    printf '\n%s log, WARN/ERROR lines (first 20):\n\n```\n%s\n```\n' "${names[$b]}" "${broker_warnings[$b]}"
done

ins=$(limit insert) insdel=$(limit insert+delete)
cat <<EOF

### Throughput and ratios (PostgreSQL as the store)

| scenario | \`baton bench\` flags (plus \`--addr\`, \`--json\`) | Baton msg/s | ActiveMQ JDBC msg/s | Baton ÷ ActiveMQ | RabbitMQ msg/s | Baton ÷ RabbitMQ | PostgreSQL limit rows/s | Baton ÷ limit |
|---|---|---|---|---|---|---|---|---|
EOF
mrow() { # case label metric limit
    local bp a r
    bp=$(get baton-pg "$1" "$3") a=$(get activemq "$1" "$3") r=$(get rabbitmq "$1" "$3")
    local lim="n/a" lr="n/a"
    if [ -n "$4" ]; then lim=$(num "$4"); lr=$(ratio "$bp" "$4"); fi
    echo "| $2 | \`${flags_of[$1]:-}\` | $(num "$bp") | $(num "$a") | $(ratio "$bp" "$a") | $(num "$r") | $(ratio "$bp" "$r") | $lim | $lr |"
}
mrow p16 "persistent sync sends, 16 producers (sent)" .sent_per_s "$ins"
mrow pc16 "persistent, 16 producers + 16 consumers client-individual (sent)" .sent_per_s ""
mrow pc16 "persistent, 16 producers + 16 consumers client-individual (received)" .received_per_s "$insdel"
mrow drain "drain the p16 backlog, 4 consumers client-individual (received)" .received_per_s ""
mrow npq "non-persistent queue, 16 + 16, auto ack (received)" .received_per_s ""
mrow npt "non-persistent topic, 4 + 4, auto ack (deliveries received)" .received_per_s ""
cat <<EOF

PostgreSQL limit = the best rows/s of the batched pgbench runs below (the
same statements as Baton's commit, batches of 16 to 1024 rows): batched
inserts for the producer-only scenario, batched insert + delete of the
previous batch for produce + consume. At one row per commit (ActiveMQ's
regime) PostgreSQL did $(num "$(limit_at insert 1 1)") rows/s; at 16 rows per commit (the most 16
synchronous producers can put in one batch) $(num "$(limit_at insert 16 1)") inserts/s and
$(num "$(limit_at insert+delete 16 1)") inserts + deletes/s.

### Latency at half of the peak rate (persistent, 16 producers, paced)

| broker | target msg/s (half of p16) | achieved msg/s | send → RECEIPT p50 / p99 / p99.9 ms | max ms |
|---|---|---|---|---|
EOF
for b in "${brokers[@]}"; do
    echo "| ${names[$b]} | $(num "$(get "$b" lat .settings.rate)") | $(num "$(get "$b" lat .sent_per_s)") | $(lat3 "$b" lat send) | $(get "$b" lat .send_latency_ms.max) |"
done
cat <<EOF

### Baton's persistent figures per store

| store | p16 sent msg/s | p16 p50 / p99 / p99.9 ms | pc16 sent / received msg/s | drain msg/s | lat p50 / p99 / p99.9 ms at half of p16 |
|---|---|---|---|---|---|
EOF
for b in baton-pg baton-mariadb baton-sqlite; do
    has "$b" || continue
    echo "| ${names[$b]} | $(num "$(get "$b" p16 .sent_per_s)") | $(lat3 "$b" p16 send) | $(num "$(get "$b" pc16 .sent_per_s)") / $(num "$(get "$b" pc16 .received_per_s)") | $(num "$(get "$b" drain .received_per_s)") | $(lat3 "$b" lat send) |"
done
[ -n "${pg_table_size:-}" ] && echo && echo "Baton's PostgreSQL \`msgs\` table after its runs (backlog of the lat scenario still in it): $pg_table_size."
if has baton-mariadb || [ -f "$work/mylimit.txt" ]; then
    cat <<EOF

### Baton on MariaDB against MariaDB's own limit

| scenario | Baton (MariaDB) msg/s | MariaDB limit, 1 client, today's round trips, rows/s | Baton ÷ it | 1 client, one compound statement | Baton ÷ it | 16 clients, today's round trips | Baton ÷ it | 16 clients, one multi-statement request | 16 clients, one compound statement |
|---|---|---|---|---|---|---|---|---|---|
EOF
    myrow() { # case label metric kind
        local bm l1 k1 l j k
        bm=$(get baton-mariadb "$1" "$3") l1=$(mylimit "$4" 1) k1=$(mylimit "$4/block" 1)
        l=$(mylimit "$4" 16) j=$(mylimit "$4/joined" 16) k=$(mylimit "$4/block" 16)
        echo "| $2 | $(num "$bm") | $(num "$l1") | $(ratio "$bm" "$l1") | $(num "$k1") | $(ratio "$bm" "$k1") | $(num "$l") | $(ratio "$bm" "$l") | $(num "$j") | $(num "$k") |"
    }
    myrow p16 "persistent sync sends, 16 producers (sent)" .sent_per_s insert
    myrow pc16 "persistent, 16 producers + 16 consumers client-individual (received)" .received_per_s insert+delete
    cat <<EOF

MariaDB limit = rows/s of mariadb-limit.sh's runs below (Baton's schema and
the MySQL store's statements, ${SIZE}-byte bodies, 16 rows per transaction):
inserts for the producer-only scenario, inserts + deletes of the previous
batch for produce + consume. One client committing 16-row batches back to
back is the same kind of figure as PostgreSQL's at 16 rows per commit (and
what Baton's single writer can do at most); 16 clients are the server's
limit with concurrent writers. "Today's round trips" sends one statement
per round trip, as the store does; the other columns send the same batch in
one round trip (the multi-statement request reads the fence only after its
COMMIT; the compound statement keeps the fence).
EOF
fi
cat <<EOF

### Every run

| broker | case | sent | sent msg/s | received | received msg/s | complete | send → RECEIPT p50 / p99 / p99.9 ms | send → MESSAGE p50 / p99 / p99.9 ms |
|---|---|---|---|---|---|---|---|---|
EOF
for b in "${brokers[@]}"; do
    for c in warm-up p16 drain pc16 npq npt lat; do
        [ -n "${json["$b|$c"]:-}" ] || continue
        echo "| ${names[$b]} | $c | $(get "$b" "$c" .sent) | $(num "$(get "$b" "$c" .sent_per_s)") | $(get "$b" "$c" .received) | $(num "$(get "$b" "$c" .received_per_s)") | $(get "$b" "$c" .complete) | $(lat3 "$b" "$c" send) | $(lat3 "$b" "$c" receive) |"
    done
done
if [ -f "$work/pglimit.md" ]; then
    echo
    cat "$work/pglimit.md"
fi
if [ -f "$work/mylimit.md" ]; then
    echo
    cat "$work/mylimit.md"
fi
echo
echo "<details><summary>raw \`baton bench --json\` output (broker, case, exit code, load average, JSON, stderr)</summary>"
echo
echo '```'
cat "$raw"
echo '```'
echo
echo "</details>"
