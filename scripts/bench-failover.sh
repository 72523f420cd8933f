#!/usr/bin/env bash
# Failover time of Baton's shared-database master/slave, next to ActiveMQ
# Classic 5.17 (Debian's `activemq` package) in JDBC master/slave on the same
# PostgreSQL, measured by the same probe (scripts/failover_probe.py).
#
# Failover time = from the signal to the master (SIGKILL, or SIGTERM for a
# graceful stop) to the first RECEIPT of a persistent SEND (persistent:true +
# receipt) from the other node. The probe polls both STOMP ports every 5 ms
# (new connection, CONNECT, SEND, wait for RECEIPT) and uses time.monotonic().
# Before each signal it checks that the master confirms a persistent send.
# After each round the stopped node is restarted and the script waits until
# it is a slave again, so there are always two nodes.
#
# Scenarios (each in a fresh database the script creates and drops):
#   Baton, --election-mode session|lease, on PostgreSQL and MariaDB, default
#   lease settings (lease 3000 ms, renew 750, retry 50, margin 500);
#   ActiveMQ jdbcPersistenceAdapter on PostgreSQL (PGSimpleDataSource from
#   Debian's libpostgresql-jdbc-java), default locker and lease-database-locker.
# Each with SIGKILL and with SIGTERM.
#
# Usage (builds the release binary first; the report is markdown on stdout):
#   CARGO_TARGET_DIR=/work/target-release scripts/bench-failover.sh > report.md
# Environment (BENCH_*; the broker rejects unknown BATON_* variables):
#   BENCH_N (rounds per scenario, default 10), BENCH_BATON_BIN (prebuilt
#   binary, skips the build), BENCH_STOMP_A/B (61616/61618), BENCH_ADMIN_A/B
#   (8171/8172), BENCH_PG (host:port, 127.0.0.1:5432, user postgres, trust),
#   BENCH_MY (host:port, 127.0.0.1:3306, user root, no password),
#   BENCH_SKIP_AMQ=1, BENCH_ONLY (regex on the scenario label),
#   BENCH_AMQ_LEASE_MS (lockKeepAlivePeriod = lockAcquireSleepInterval for
#   the lease locker, default 2000), BENCH_WAIT_QUIET (max seconds to wait for
#   the 1-minute load to drop below BENCH_QUIET_LOAD (0.8), polled every 30 s,
#   default 300; 0 = no wait), BENCH_SETTLE (seconds after the restarted node
#   is a slave again, default 1), BENCH_KEEP_TMP=1.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
repo=$PWD

N=${BENCH_N:-10}
STOMP_A=${BENCH_STOMP_A:-61616}
STOMP_B=${BENCH_STOMP_B:-61618}
ADMIN_A=${BENCH_ADMIN_A:-8171}
ADMIN_B=${BENCH_ADMIN_B:-8172}
PG=${BENCH_PG:-127.0.0.1:5432}
MY=${BENCH_MY:-127.0.0.1:3306}
AMQ_LEASE_MS=${BENCH_AMQ_LEASE_MS:-2000}
WAIT_QUIET=${BENCH_WAIT_QUIET:-300}
QUIET_LOAD=${BENCH_QUIET_LOAD:-0.8}
SETTLE=${BENCH_SETTLE:-1}
ONLY=${BENCH_ONLY:-}
probe="$repo/scripts/failover_probe.py"

log() { echo "[bench-failover] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
amq_jar=/usr/share/activemq/bin/activemq.jar
pg_jar=/usr/share/java/postgresql.jar
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >&2 || { apt-get update -q >&2 && apt-get install -y -q "$@" >&2; }
}
if [ "${BENCH_SKIP_AMQ:-0}" != 1 ]; then
    [ -e "$amq_jar" ] || { log "installing activemq"; apt_install activemq; }
    [ -e "$pg_jar" ] || { log "installing libpostgresql-jdbc-java"; apt_install libpostgresql-jdbc-java; }
    command -v java >/dev/null || die "java not found"
fi
command -v psql >/dev/null || { log "installing postgresql-client"; apt_install postgresql-client; }
command -v mysql >/dev/null || { log "installing mariadb-client"; apt_install mariadb-client; }
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"

if [ -n "${BENCH_BATON_BIN:-}" ]; then
    baton=$BENCH_BATON_BIN
    baton_build="prebuilt binary given as BENCH_BATON_BIN"
else
    log "building the release binary"
    cargo build --release -q >&2
    baton="${CARGO_TARGET_DIR:-$repo/target}/release/baton"
    baton_build="release build of this tree"
fi
[ -x "$baton" ] || die "no binary at $baton"

pg_host=${PG%:*} pg_port=${PG##*:}
my_host=${MY%:*} my_port=${MY##*:}
psql_() { psql -h "$pg_host" -p "$pg_port" -U postgres -X -q -A -t "$@"; }
mysql_() { mysql -h "$my_host" -P "$my_port" -uroot "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-failover.XXXXXX")
declare -A pid port admin
pids=() dbs=()
cleanup() {
    local p d
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    done
    for d in "${dbs[@]}"; do drop_db "$d" || true; done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$STOMP_A" "$STOMP_B" "$ADMIN_A" "$ADMIN_B"; do
    port_open "$p" && die "port $p is already in use"
done
psql_ -c 'select 1' >/dev/null || die "cannot reach PostgreSQL at $PG as postgres"
mysql_ -e 'select 1' >/dev/null || die "cannot reach MariaDB at $MY as root"

# db: "pg:<name>" or "my:<name>"
create_db() {
    case $1 in
    pg:*) psql_ -c "CREATE DATABASE ${1#pg:}" >/dev/null ;;
    my:*) mysql_ -e "CREATE DATABASE ${1#my:}" ;;
    esac
    dbs+=("$1")
}
drop_db() {
    local rest=() d
    case $1 in
    pg:*) psql_ -c "DROP DATABASE IF EXISTS ${1#pg:} WITH (FORCE)" >/dev/null ;;
    my:*) mysql_ -e "DROP DATABASE IF EXISTS ${1#my:}" ;;
    esac
    for d in "${dbs[@]}"; do [ "$d" = "$1" ] || rest+=("$d"); done
    dbs=("${rest[@]}")
}
forget() { local rest=() p; for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done; pids=("${rest[@]}"); }
reap() { # pid seconds: wait for exit, SIGKILL after the timeout
    local i
    for i in $(seq 1 $(($2 * 20))); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$1" 2>/dev/null; then log "pid $1 still alive after $2 s; SIGKILL"; kill -KILL "$1" 2>/dev/null || true; fi
    { wait "$1"; } 2>/dev/null || true
    forget "$1"
}

# ------------------------------------------------------------ quiet machine
load1() { cut -d' ' -f1 /proc/loadavg; }
waited=0
while [ "$WAIT_QUIET" -gt 0 ] && awk -v l="$(load1)" -v q="$QUIET_LOAD" 'BEGIN {exit !(l >= q)}'; do
    if [ "$waited" -ge "$WAIT_QUIET" ]; then
        log "load $(load1) still >= $QUIET_LOAD after ${waited} s; running anyway"
        break
    fi
    log "1-minute load $(load1) >= $QUIET_LOAD; waiting 30 s"
    sleep 30
    waited=$((waited + 30))
done
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- node control
# Globals for the running scenario: kind (baton|amq), mode, url, dir.
start_node() { # a|b
    local n=$1
    if [ "$kind" = baton ]; then
        # OpenWire off: its default port (61616) is STOMP_A's here, and the
        # Java client's failover time has its own script
        # (scripts/bench/openwire-failover.sh).
        "$baton" serve --database-url "$url" --election-mode "$mode" \
            --stomp-listen "127.0.0.1:${port[$n]}" --admin-listen "127.0.0.1:${admin[$n]}" \
            --websocket-listen "" --openwire-listen "" >>"$dir/$n.log" 2>&1 &
    else
        local base="$dir/$n"
        # shellcheck disable=SC2086
        (cd "$base" && exec java $amq_opts -Djava.awt.headless=true "-Djava.io.tmpdir=$base/tmp" \
            "-Dactivemq.classpath=$base/conf" -Dactivemq.home=/usr/share/activemq \
            "-Dactivemq.base=$base" "-Dactivemq.conf=$base/conf" "-Dactivemq.data=$base/data" \
            -jar "$amq_jar" start "xbean:file:$base/conf/activemq.xml" >>"$base/stdout.log" 2>&1) &
    fi
    pid[$n]=$!
    pids+=("${pid[$n]}")
}
amq_log() { echo "$dir/$1/data/activemq.log"; }
amq_waiting_lines() { local c; c=$(grep -ci 'attempting to acquire' "$(amq_log "$1")" 2>/dev/null || true); echo "${c:-0}"; }
wait_master_port() { # node seconds
    local i
    for i in $(seq 1 $(($2 * 20))); do
        port_open "${port[$1]}" && return 0
        kill -0 "${pid[$1]}" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
wait_slave() { # node seconds [amq: waiting-line count before the start]
    local i code
    for i in $(seq 1 $(($2 * 20))); do
        kill -0 "${pid[$1]}" 2>/dev/null || return 1
        if [ "$kind" = baton ]; then
            code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${admin[$1]}/role" || true)
            [ "$code" = 503 ] && return 0
        else
            [ "$(amq_waiting_lines "$1")" -gt "${3:-0}" ] && ! port_open "${port[$1]}" && return 0
        fi
        sleep 0.05
    done
    return 1
}
node_log() { if [ "$kind" = baton ]; then echo "$dir/$1.log"; else amq_log "$1"; fi; }

amq_opts=$(
    set +u
    INSTANCE=main
    # shellcheck disable=SC1091
    [ -f /usr/share/activemq/activemq-options ] && . /usr/share/activemq/activemq-options
    echo "${ACTIVEMQ_OPTS:--Xms512M -Xmx512M -Dorg.apache.activemq.UseDedicatedTaskRunner=true}"
)
amq_config() { # node db locker(default|lease)
    local base="$dir/$1" adapter
    mkdir -p "$base/conf" "$base/data" "$base/tmp" "$base/lib"
    ln -sf "$pg_jar" "$base/lib/postgresql.jar"
    if [ "$3" = lease ]; then
        adapter="<jdbcPersistenceAdapter dataSource=\"#pg-ds\" lockKeepAlivePeriod=\"$AMQ_LEASE_MS\">
                <locker><lease-database-locker lockAcquireSleepInterval=\"$AMQ_LEASE_MS\"/></locker>
            </jdbcPersistenceAdapter>"
    else
        adapter='<jdbcPersistenceAdapter dataSource="#pg-ds"/>'
    fi
    cat >"$base/conf/activemq.xml" <<EOF
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
    <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
    <bean id="pg-ds" class="org.postgresql.ds.PGSimpleDataSource">
        <property name="url" value="jdbc:postgresql://$pg_host:$pg_port/$2"/>
        <property name="user" value="postgres"/>
    </bean>
    <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="amq-$1"
            dataDirectory="\${activemq.data}">
        <persistenceAdapter>
            $adapter
        </persistenceAdapter>
        <transportConnectors>
            <transportConnector name="stomp" uri="stomp://127.0.0.1:${port[$1]}"/>
        </transportConnectors>
    </broker>
</beans>
EOF
    cat >"$base/conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, out
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.out=org.apache.log4j.FileAppender
log4j.appender.out.file=${activemq.data}/activemq.log
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
EOF
}

# ---------------------------------------------------------------- scenarios
declare -A res_values res_fail res_notes
labels=()
seq_db=0
run_scenario() { # label kind mode(session|lease|default) db(pg|my) signal(KILL|TERM)
    local label=$1 sig=$5 db m other i out ms before start_timeout slave_timeout
    [ -n "$ONLY" ] && ! [[ $label =~ $ONLY ]] && return 0
    kind=$2 mode=$3
    seq_db=$((seq_db + 1))
    db="bench_failover_$$_$seq_db"
    dir="$work/s$seq_db"
    mkdir -p "$dir"
    create_db "$4:$db"
    port[a]=$STOMP_A port[b]=$STOMP_B admin[a]=$ADMIN_A admin[b]=$ADMIN_B
    if [ "$kind" = baton ]; then
        if [ "$4" = pg ]; then url="postgres://postgres@$pg_host:$pg_port/$db"; else url="mysql://root@$my_host:$my_port/$db"; fi
        start_timeout=30 slave_timeout=30
    else
        amq_config a "$db" "$mode"
        amq_config b "$db" "$mode"
        start_timeout=120 slave_timeout=120
    fi
    labels+=("$label")
    res_values[$label]="" res_fail[$label]=0 res_notes[$label]=""
    log "$label: starting two nodes (db $db)"
    start_node a
    wait_master_port a "$start_timeout" || { cat "$(node_log a)" >&2 || true; die "$label: node a did not become master"; }
    start_node b
    wait_slave b "$slave_timeout" || { cat "$(node_log b)" >&2 || true; die "$label: node b did not become a slave"; }
    sleep "$SETTLE"
    for i in $(seq 1 "$N"); do
        m=""
        for _ in $(seq 1 600); do
            if port_open "${port[a]}"; then m=a; break; elif port_open "${port[b]}"; then m=b; break; fi
            sleep 0.05
        done
        [ -n "$m" ] || die "$label: no master after 30 s"
        if [ "$m" = a ]; then other=b; else other=a; fi
        out=$(python3 "$probe" --pid "${pid[$m]}" --signal "$sig" --victim-port "${port[$m]}" \
            --ports "${port[a]},${port[b]}" --timeout 60) || true
        ms=${out%% *}
        if [[ $ms =~ ^[0-9.]+$ ]]; then
            res_values[$label]+="$ms "
            log "$label: round $i: $out (killed $m)"
        else
            res_fail[$label]=$((res_fail[$label] + 1))
            res_notes[$label]+="round $i: $out; "
            log "$label: round $i: FAILED: $out"
        fi
        case $out in *victim_receipts=0*) ;; *victim_receipts=*) res_notes[$label]+="round $i: old master confirmed a send after the signal ($out); " ;; esac
        [ "$out" = precheck-failed ] || reap "${pid[$m]}" 60
        [ "$out" = precheck-failed ] && die "$label: master $m did not confirm a persistent send before the signal"
        before=0
        [ "$kind" = amq ] && before=$(amq_waiting_lines "$m")
        start_node "$m"
        wait_slave "$m" "$slave_timeout" "$before" || { tail -n 50 "$(node_log "$m")" >&2 || true; die "$label: restarted node $m did not become a slave"; }
        sleep "$SETTLE"
    done
    kill -TERM "${pid[a]}" "${pid[b]}" 2>/dev/null || true
    reap "${pid[a]}" 60
    reap "${pid[b]}" 60
    if [ "$kind" = amq ]; then
        res_notes[$label]+="log WARN/ERROR lines: $(cat "$dir"/a/data/activemq.log "$dir"/b/data/activemq.log 2>/dev/null | grep -cE '\| (WARN|ERROR) ' || true); "
    fi
    drop_db "$4:$db"
}

for db in pg my; do
    dbname=PostgreSQL
    [ "$db" = my ] && dbname=MariaDB
    for mode in session lease; do
        run_scenario "Baton|$dbname|--election-mode $mode|SIGKILL" baton "$mode" "$db" KILL
        run_scenario "Baton|$dbname|--election-mode $mode|SIGTERM" baton "$mode" "$db" TERM
    done
done
if [ "${BENCH_SKIP_AMQ:-0}" != 1 ]; then
    run_scenario "ActiveMQ|PostgreSQL|default locker|SIGKILL" amq default pg KILL
    run_scenario "ActiveMQ|PostgreSQL|default locker|SIGTERM" amq default pg TERM
    run_scenario "ActiveMQ|PostgreSQL|lease-database-locker ${AMQ_LEASE_MS}/${AMQ_LEASE_MS}|SIGKILL" amq lease pg KILL
    run_scenario "ActiveMQ|PostgreSQL|lease-database-locker ${AMQ_LEASE_MS}/${AMQ_LEASE_MS}|SIGTERM" amq lease pg TERM
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
stats() { # values -> "n|min|median|max"
    python3 -c 'import sys, statistics as s
v = [float(x) for x in sys.argv[1:]]
print("%d|%s" % (len(v), "%.0f|%.0f|%.0f" % (min(v), s.median(v), max(v)) if v else "n/a|n/a|n/a"))' $1
}
amq_version=$(dpkg-query -W -f='${Version}' activemq 2>/dev/null || echo "not installed")
pgjdbc_version=$(dpkg-query -W -f='${Version}' libpostgresql-jdbc-java 2>/dev/null || echo "not installed")
cat <<EOF
## Failover time: Baton master/slave vs ActiveMQ JDBC master/slave

- date: $started_at
- machine: \`nproc\` = $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)
- load average (1/5/15 min): $load_start at the start, $load_end at the end (waited ${waited} s for the 1-minute load to drop below $QUIET_LOAD)
- software: $("$baton" --version) ($baton_build, \`$baton\`, modified $(date -u -r "$baton" '+%Y-%m-%d %H:%M:%S UTC')); $(psql_ -c 'select version()' | cut -d' ' -f1-2); MariaDB $(mysql_ -N -e 'select version()'); ActiveMQ Classic from Debian package activemq $amq_version, PostgreSQL JDBC driver libpostgresql-jdbc-java $pgjdbc_version, $(java -version 2>&1 | head -n1)
- two nodes on this host, STOMP 127.0.0.1:$STOMP_A and 127.0.0.1:$STOMP_B; $N rounds per row; after each round the stopped node is restarted and the script waits until it is a slave again, then ${SETTLE} s
- failover time = from just before \`os.kill(master, SIGKILL|SIGTERM)\` to the first RECEIPT of a persistent SEND from the other node, by \`scripts/failover_probe.py\` (new TCP connection + CONNECT + SEND \`persistent:true\` + \`receipt\` to each port in turn, 5 ms pause between rounds, \`time.monotonic()\`)
- Baton: \`baton serve --database-url <db> --election-mode <mode> --stomp-listen 127.0.0.1:<port> --admin-listen 127.0.0.1:<$ADMIN_A|$ADMIN_B> --websocket-listen "" --openwire-listen ""\`, default election settings (lease 3000 ms, renew 750, retry 50, margin 500); \`<db>\` = \`postgres://postgres@$pg_host:$pg_port/<fresh db>\` or \`mysql://root@$my_host:$my_port/<fresh db>\`
- ActiveMQ: \`java $amq_opts ... -jar $amq_jar start xbean:file:<tmp>/<node>/conf/activemq.xml\` (as in bench-sqlite.sh) with \`$pg_jar\` linked into \`<activemq.base>/lib\`; broker \`useJmx="false"\`, only a STOMP connector, \`<jdbcPersistenceAdapter dataSource="#pg-ds"/>\` on an \`org.postgresql.ds.PGSimpleDataSource\` (no pool); lease row: \`lockKeepAlivePeriod="$AMQ_LEASE_MS"\` + \`<lease-database-locker lockAcquireSleepInterval="$AMQ_LEASE_MS"/>\`

| broker | database | election / locker | stop | ok / rounds | min ms | median ms | max ms | all values (ms, in order) |
|---|---|---|---|---|---|---|---|---|
EOF
notes=""
for l in "${labels[@]}"; do
    IFS='|' read -r n mn md mx <<<"$(stats "${res_values[$l]}")"
    echo "| ${l//|/ | } | $n / $((n + res_fail[$l])) | $mn | $md | $mx | ${res_values[$l]% } |"
    [ -n "${res_notes[$l]}" ] && notes+="- ${l//|/, }: ${res_notes[$l]%; }"$'\n'
done
if [ -n "$notes" ]; then
    echo
    echo "Notes:"
    echo
    printf '%s' "$notes"
fi
