#!/usr/bin/env bash
# Baton on its embedded SQLite store side by side with the baseline, Apache
# ActiveMQ Classic (Debian's `activemq` package, default KahaDB store), both
# driven over STOMP by the same load generator (`baton bench`), in one run on
# this machine. Installs what is missing (the `activemq` package), builds the
# release binary, starts each broker on a non-default port with a fresh data
# directory in a temp folder it owns, runs the cases, stops the brokers and
# prints a markdown report on stdout (progress goes to stderr).
#
#   scripts/bench-sqlite.sh                # the whole run
#   CARGO_TARGET_DIR=/some/dir scripts/bench-sqlite.sh
#
# Knobs (environment): MSGS_P1, MSGS_P4, MSGS_P16, MSGS_MIXED, MSGS_NONPERSISTENT,
# MSGS_WARMUP (message counts), BENCH_BATON_BIN (use this baton binary instead of
# building one), BENCH_BATON_STOMP_PORT, BENCH_BATON_ADMIN_PORT,
# BENCH_AMQ_STOMP_PORT, BENCH_AMQ_OPENWIRE_PORT, WAIT_QUIET (max seconds to wait for the
# 1-minute load average to drop below QUIET_LOAD, polled every 30 s; 0 = no
# wait), KEEP_TMP=1 (keep the temp folder).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
repo=$PWD

MSGS_P1=${MSGS_P1:-5000}
MSGS_P4=${MSGS_P4:-10000}
MSGS_P16=${MSGS_P16:-20000}
MSGS_MIXED=${MSGS_MIXED:-10000}
MSGS_NONPERSISTENT=${MSGS_NONPERSISTENT:-50000}
MSGS_WARMUP=${MSGS_WARMUP:-4000}
SIZE=1024
BENCH_BATON_STOMP_PORT=${BENCH_BATON_STOMP_PORT:-61713}
BENCH_BATON_ADMIN_PORT=${BENCH_BATON_ADMIN_PORT:-8261}
BENCH_AMQ_STOMP_PORT=${BENCH_AMQ_STOMP_PORT:-61714}
BENCH_AMQ_OPENWIRE_PORT=${BENCH_AMQ_OPENWIRE_PORT:-61716}
WAIT_QUIET=${WAIT_QUIET:-600}
QUIET_LOAD=${QUIET_LOAD:-0.8}
SETTLE=5 # seconds between "port accepts" and the idle RSS reading

log() { echo "[bench-sqlite] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
amq_jar=/usr/share/activemq/bin/activemq.jar
amq_instance=/etc/activemq/instances-available/main
if [ ! -e "$amq_jar" ] || [ ! -f "$amq_instance/activemq.xml" ]; then
    log "installing the activemq package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q activemq >&2 || { apt-get update -q >&2 && apt-get install -y -q activemq >&2; }
fi
command -v java >/dev/null || die "java not found (the activemq package should have pulled in a JRE)"
command -v cargo >/dev/null || die "cargo not found"
command -v jq >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >&2; }

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

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-sqlite.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid seconds
    local i
    for i in $(seq 1 $(($3 * 4))); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.25
    done
    return 1
}
rss() { awk '/^VmRSS:/ {print $2 " " $3}' "/proc/$1/status"; }
stop() { # pid: SIGTERM, up to 30 s, then SIGKILL; forgotten by cleanup
    local p rest=()
    if kill -TERM "$1" 2>/dev/null; then
        for _ in $(seq 1 120); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$1" 2>/dev/null; then
            log "pid $1 did not stop in 30 s; SIGKILL"
            kill -KILL "$1" 2>/dev/null || true
        fi
    fi
    wait "$1" 2>/dev/null || true
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done
    pids=("${rest[@]}")
}
for p in "$BENCH_BATON_STOMP_PORT" "$BENCH_BATON_ADMIN_PORT" "$BENCH_AMQ_STOMP_PORT" "$BENCH_AMQ_OPENWIRE_PORT"; do
    port_open "$p" && die "port $p is already in use"
done

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

# ---------------------------------------------------------------- machine facts
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
dd_out=$(dd if=/dev/zero of="$work/fsync-test" bs=4k count=200 oflag=dsync 2>&1 | tail -n1)
rm -f "$work/fsync-test"
dd_secs=$(echo "$dd_out" | awk '{for (i = 1; i < NF; i++) if ($(i + 1) ~ /^s,?$/) print $i}')
fsync_ms=$(awk -v s="$dd_secs" 'BEGIN {printf "%.3f", s * 1000 / 200}')
tmp_fs=$(df -PT "$work" | awk 'NR == 2 {print $2 " on " $1}')
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal:/ {print $2 " " $3}' /proc/meminfo)
java_version=$(java -version 2>&1 | head -n1)
amq_version=$(dpkg-query -W -f='${Version}' activemq 2>/dev/null || echo unknown)
baton_version=$("$baton" --version)

# ---------------------------------------------------------------- the cases
# name | bench flags (without --addr)
cases=(
    "persistent, 1 producer|--destination /queue/bench-p1 --producers 1 --messages $MSGS_P1 --size $SIZE --persistent"
    "persistent, 4 producers|--destination /queue/bench-p4 --producers 4 --messages $MSGS_P4 --size $SIZE --persistent"
    "persistent, 16 producers|--destination /queue/bench-p16 --producers 16 --messages $MSGS_P16 --size $SIZE --persistent"
    "persistent, 4 producers + 4 consumers|--destination /queue/bench-mixed --producers 4 --consumers 4 --messages $MSGS_MIXED --size $SIZE --persistent"
    "non-persistent, 4 producers|--destination /queue/bench-np4 --producers 4 --messages $MSGS_NONPERSISTENT --size $SIZE"
)
normal_case="persistent, 4 producers|--destination /queue/bench-p4 --producers 4 --messages $MSGS_P4 --size $SIZE --persistent"
warmup_flags="--destination /queue/warmup --producers 4 --consumers 4 --messages $MSGS_WARMUP --size $SIZE --persistent"
backlog=$((MSGS_P1 + MSGS_P4 + MSGS_P16 + MSGS_NONPERSISTENT))

declare -A result # "<broker>|<case>" -> "sent|received|elapsed|p50|p99|p99.9|max"
raw="$work/raw.txt"
: >"$raw"

bench() { # broker-label addr case-name flags
    local out
    log "$1: $3"
    # shellcheck disable=SC2086
    if ! out=$("$baton" bench --json --addr "$2" $4 2>&1); then
        printf '### %s: %s (FAILED)\n%s\n\n' "$1" "$3" "$out" >>"$raw"
        log "$1: $3 failed: $out"
        result["$1|$3"]="failed||||||"
        return 0
    fi
    printf '### %s: %s\n$ baton bench --json --addr %s %s\n%s\n\n' "$1" "$3" "$2" "$4" "$out" >>"$raw"
    result["$1|$3"]=$(echo "$out" | jq -r '
        def r: . * 100 | round / 100;
        [(.sent_per_s | round), (.received_per_s | round), (.elapsed_s * 1000 | round / 1000),
         (.send_latency_ms.p50 | r), (.send_latency_ms.p99 | r), (.send_latency_ms.p999 | r),
         (.send_latency_ms.max | r)] | map(tostring) | join("|")')
}

declare -A mem_idle mem_after cmdline

start_baton() { # label sync -> sets bpid
    local dir="$work/baton-$2"
    mkdir -p "$dir"
    cmdline[$1]="baton serve --database-url sqlite:<tmp>/baton-$2/baton.db --database-sqlite-synchronous $2 --stomp-listen 127.0.0.1:$BENCH_BATON_STOMP_PORT --admin-listen 127.0.0.1:$BENCH_BATON_ADMIN_PORT"
    "$baton" serve --database-url "sqlite:$dir/baton.db" --database-sqlite-synchronous "$2" \
        --stomp-listen "127.0.0.1:$BENCH_BATON_STOMP_PORT" --admin-listen "127.0.0.1:$BENCH_BATON_ADMIN_PORT" \
        >"$dir/baton.log" 2>&1 &
    bpid=$!
    pids+=("$bpid")
    wait_port "$BENCH_BATON_STOMP_PORT" "$bpid" 30 || { cat "$dir/baton.log" >&2; die "baton did not open port $BENCH_BATON_STOMP_PORT"; }
}

run_baton() { # label sync case...
    local label=$1 sync=$2 c
    shift 2
    start_baton "$label" "$sync"
    sleep "$SETTLE"
    mem_idle[$label]=$(rss "$bpid")
    bench "$label" "127.0.0.1:$BENCH_BATON_STOMP_PORT" warm-up "$warmup_flags"
    for c in "$@"; do bench "$label" "127.0.0.1:$BENCH_BATON_STOMP_PORT" "${c%%|*}" "${c#*|}"; done
    sleep 2
    mem_after[$label]=$(rss "$bpid")
    stop "$bpid"
}

baton_full="Baton (SQLite, synchronous=full)"
baton_normal="Baton (SQLite, synchronous=normal)"
amq="ActiveMQ ${amq_version%%+*} (KahaDB)"

run_baton "$baton_full" full "${cases[@]}"
run_baton "$baton_normal" normal "$normal_case"

# ActiveMQ: the Debian instance "main" (activemq.xml, logging), copied into a
# temp ACTIVEMQ_BASE with a STOMP connector added and the OpenWire port moved,
# started the way /usr/bin/activemq does (java -jar activemq.jar start
# xbean:...), with the package's JVM options from
# /usr/share/activemq/activemq-options.
amq_base="$work/activemq"
mkdir -p "$amq_base/conf" "$amq_base/data" "$amq_base/tmp"
sed -e "s#<transportConnector name=\"openwire\" uri=\"tcp://127.0.0.1:61616\"/>#<transportConnector name=\"openwire\" uri=\"tcp://127.0.0.1:$BENCH_AMQ_OPENWIRE_PORT\"/>\n            <transportConnector name=\"stomp\" uri=\"stomp://127.0.0.1:$BENCH_AMQ_STOMP_PORT\"/>#" \
    "$amq_instance/activemq.xml" >"$amq_base/conf/activemq.xml"
grep -q "stomp://127.0.0.1:$BENCH_AMQ_STOMP_PORT" "$amq_base/conf/activemq.xml" ||
    die "could not add the STOMP connector to $amq_instance/activemq.xml (format changed?)"
grep -q '<kahaDB ' "$amq_base/conf/activemq.xml" || die "the instance config has no kahaDB store"
cp "$amq_instance/log4j2.properties" "$amq_base/conf/"
# The packaged broker logs through log4j 1.2 (log4j2.properties is not read):
cat >"$amq_base/conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, out
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.out=org.apache.log4j.FileAppender
log4j.appender.out.file=${activemq.data}/activemq.log
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
EOF
amq_opts=$(
    set +u
    INSTANCE=main
    # shellcheck disable=SC1091
    . /usr/share/activemq/activemq-options
    echo "$ACTIVEMQ_OPTS"
)
amq_props=(-Djava.awt.headless=true "-Djava.io.tmpdir=$amq_base/tmp" "-Dactivemq.classpath=$amq_base/conf"
    -Dactivemq.home=/usr/share/activemq "-Dactivemq.base=$amq_base" "-Dactivemq.conf=$amq_base/conf"
    "-Dactivemq.data=$amq_base/data")
cmdline[$amq]="java $amq_opts ${amq_props[*]//$work/<tmp>} -jar $amq_jar start xbean:file:<tmp>/activemq/conf/activemq.xml"
# shellcheck disable=SC2086
(cd "$amq_base" && exec java $amq_opts "${amq_props[@]}" -jar "$amq_jar" start \
    "xbean:file:$amq_base/conf/activemq.xml" >"$amq_base/stdout.log" 2>&1) &
apid=$!
pids+=("$apid")
wait_port "$BENCH_AMQ_STOMP_PORT" "$apid" 120 || {
    cat "$amq_base/stdout.log" "$amq_base/data/activemq.log" >&2 2>/dev/null || true
    die "ActiveMQ did not open port $BENCH_AMQ_STOMP_PORT"
}
sleep "$SETTLE"
mem_idle[$amq]=$(rss "$apid")
bench "$amq" "127.0.0.1:$BENCH_AMQ_STOMP_PORT" warm-up "$warmup_flags"
for c in "${cases[@]}"; do bench "$amq" "127.0.0.1:$BENCH_AMQ_STOMP_PORT" "${c%%|*}" "${c#*|}"; done
sleep 2
mem_after[$amq]=$(rss "$apid")
amq_warnings=$(grep -c -E '\| (WARN|ERROR) ' "$amq_base/data/activemq.log" || true)
amq_warn_lines=$(grep -E '\| (WARN|ERROR) ' "$amq_base/data/activemq.log" | cut -d'|' -f2,3 | sort | uniq -c | head -n 10 || true)
stop "$apid"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
field() { echo "${result["$1|$2"]}" | cut -d'|' -f"$3"; }
cat <<EOF
## Baton (SQLite) vs ActiveMQ Classic (KahaDB) over STOMP

- date: $started_at
- machine: \`nproc\` = $(nproc), $cpu_model, $mem_total RAM, $(uname -sr)
- load average (1/5/15 min): $load_start at the start, $load_end at the end (waited ${waited} s for the 1-minute load to drop below $QUIET_LOAD)
- fsync latency: \`dd if=/dev/zero of=<tmp>/f bs=4k count=200 oflag=dsync\` on the data folder's filesystem ($tmp_fs): $dd_out → $fsync_ms ms per synchronous 4 KiB write
- software: $baton_version ($baton_build, \`$baton\`, modified $(date -u -r "$baton" '+%Y-%m-%d %H:%M:%S UTC')); ActiveMQ Classic from Debian package activemq $amq_version on $java_version
- load generator: \`baton bench\` on the same machine; every SEND carries a \`receipt\` and each producer waits for it before the next; consumers use \`client-individual\` acks; ${SIZE}-byte bodies; each case uses its own queue
- each broker starts with a fresh data folder; one warm-up run first (\`$warmup_flags\`), not in the tables

### Brokers

| broker | started with |
|---|---|
| $baton_full | \`${cmdline[$baton_full]}\` |
| $baton_normal | \`${cmdline[$baton_normal]}\` |
| $amq | \`${cmdline[$amq]}\` (Debian's instance \`main\` activemq.xml + \`<transportConnector name="stomp" uri="stomp://127.0.0.1:$BENCH_AMQ_STOMP_PORT"/>\`, OpenWire moved to $BENCH_AMQ_OPENWIRE_PORT; KahaDB default settings) |

### Side by side (throughput = messages sent per second; latency = send → RECEIPT)

| case | \`baton bench\` flags (plus \`--addr 127.0.0.1:<port>\`) | Baton msg/s | Baton p50 / p99 ms | ActiveMQ msg/s | ActiveMQ p50 / p99 ms |
|---|---|---|---|---|---|
EOF
side() { # case flags baton-label [amq-label]
    local a="n/a" al="n/a"
    if [ -n "${4:-}" ]; then a=$(field "$4" "$1" 1) al="$(field "$4" "$1" 4) / $(field "$4" "$1" 5)"; fi
    echo "| $1 | \`$2\` | $(field "$3" "$1" 1) | $(field "$3" "$1" 4) / $(field "$3" "$1" 5) | $a | $al |"
}
for c in "${cases[@]}"; do
    side "${c%%|*}" "${c#*|}" "$baton_full" "$amq"
    if [ "$c" = "$normal_case" ]; then
        echo "| ${c%%|*}, Baton with \`--database-sqlite-synchronous normal\` | \`${c#*|}\` | $(field "$baton_normal" "${c%%|*}" 1) | $(field "$baton_normal" "${c%%|*}" 4) / $(field "$baton_normal" "${c%%|*}" 5) | n/a | n/a |"
    fi
done
cat <<EOF

Baton = $baton_full unless the case says otherwise; ActiveMQ = $amq.

### All numbers as printed by \`baton bench\`

| case | \`baton bench\` flags (plus \`--addr 127.0.0.1:<port>\`) | broker | sent msg/s | received msg/s | elapsed s | p50 ms | p99 ms | p99.9 ms | max ms |
|---|---|---|---|---|---|---|---|---|---|
EOF
row() { # broker case flags
    echo "| $2 | \`$3\` | $1 | $(field "$1" "$2" 1) | $(field "$1" "$2" 2) | $(field "$1" "$2" 3) | $(field "$1" "$2" 4) | $(field "$1" "$2" 5) | $(field "$1" "$2" 6) | $(field "$1" "$2" 7) |"
}
for c in "${cases[@]}"; do
    name=${c%%|*} flags=${c#*|}
    row "$baton_full" "$name" "$flags"
    if [ "$c" = "$normal_case" ]; then row "$baton_normal" "$name" "$flags"; fi
    row "$amq" "$name" "$flags"
done
cat <<EOF

### Resident memory (VmRSS from /proc/<pid>/status)

| broker | idle, ${SETTLE} s after the STOMP port accepted | after the runs |
|---|---|---|
| $baton_full | ${mem_idle[$baton_full]} | ${mem_after[$baton_full]} |
| $baton_normal | ${mem_idle[$baton_normal]} | ${mem_after[$baton_normal]} (warm-up + one case only) |
| $amq | ${mem_idle[$amq]} | ${mem_after[$amq]} |

"After the runs" is read 2 s after the last case, with the messages of the
producer-only cases still queued ($backlog messages of ${SIZE} B for the full
run: nothing consumes them).

ActiveMQ log: $amq_warnings WARN/ERROR lines${amq_warn_lines:+:}
EOF
if [ -n "$amq_warn_lines" ]; then
    echo '```'
    echo "$amq_warn_lines"
    echo '```'
fi
echo
echo "<details><summary>raw \`baton bench\` output</summary>"
echo
echo '```'
cat "$raw"
echo '```'
echo
echo "</details>"
