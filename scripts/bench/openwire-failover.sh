#!/usr/bin/env bash
# Issue 15 item 8, failover target: the real ActiveMQ 5.17 Java client with
# a failover URL against a Baton master/slave pair on PostgreSQL
# (--election-mode session). The master is killed with SIGKILL BENCH_N
# times; after each kill the killed node is restarted and the script waits
# until it is a slave again, so a pair always exists.
#
# Failover time = from just before os.kill(master, SIGKILL) to the Java
# client's next confirmed persistent send through the other node. The
# client (tests/java/JmsBench.java `failover`) sends persistent messages
# without pause on one connection (sync sends: send() returns once the
# broker stored the message), consumes them in a second session so that
# the queue stays short, and prints the System.nanoTime() of the first
# send confirmed through each new remote address; the kill is timed with
# Python's time.monotonic_ns(): both are CLOCK_MONOTONIC on Linux.
# Markdown report (median, min, max, every sample) on stdout, progress on
# stderr.
#
#   CARGO_TARGET_DIR=/work/target-release scripts/bench/openwire-failover.sh > failover.md
#   BENCH_N=2 BENCH_WAIT_QUIET=0 scripts/bench/openwire-failover.sh   # smoke run
#
# Environment: BENCH_N (rounds, 10), BENCH_FAILOVER_OPTS (options appended
# to the failover URL, default none: the client's defaults, exponential
# reconnect back-off from 10 ms), BENCH_BATON_BIN (prebuilt binary instead
# of `cargo build --release`), ports BENCH_OW_A/B (61776/61778),
# BENCH_STOMP_A/B (61775/61777), BENCH_ADMIN_A/B (8311/8312), BENCH_PG,
# BENCH_SETTLE (s after the restarted node is a slave again, 1),
# BENCH_WAIT_QUIET / BENCH_QUIET_LOAD (see common.sh), BENCH_KEEP_TMP=1.
# Bounded: every wait has a limit, each round at most 60 s.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
repo=$PWD
LOG_TAG=openwire-failover
# shellcheck source=scripts/bench/common.sh
. scripts/bench/common.sh
# shellcheck source=scripts/bench/brokers.sh
. scripts/bench/brokers.sh

N=${BENCH_N:-10}
OPTS=${BENCH_FAILOVER_OPTS:-}
SETTLE=${BENCH_SETTLE:-1}
declare -A ow stomp admin pid
ow[a]=${BENCH_OW_A:-61776} ow[b]=${BENCH_OW_B:-61778}
stomp[a]=${BENCH_STOMP_A:-61775} stomp[b]=${BENCH_STOMP_B:-61777}
admin[a]=${BENCH_ADMIN_A:-8311} admin[b]=${BENCH_ADMIN_B:-8312}

command -v psql >/dev/null || apt_install postgresql-client
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"
psql_ -c 'select 1' >/dev/null || die "cannot reach PostgreSQL at $PG as postgres"
for p in "${ow[@]}" "${stomp[@]}" "${admin[@]}"; do
    port_open "$p" && die "port $p is already in use"
done
bench_init openwire-failover
build_jms_bench "$repo"
baton_build=$(baton_origin)
baton=$(baton_binary "$repo")
[ -x "$baton" ] || die "no binary at $baton"

wait_quiet
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(loadavg)

db="bench_ow_failover_$$"
create_db "pg:$db"
url="postgres://postgres@$pg_host:$pg_port/$db"

start_node() { # a|b
    "$baton" serve --database-url "$url" --election-mode session \
        --openwire-listen "127.0.0.1:${ow[$1]}" --stomp-listen "127.0.0.1:${stomp[$1]}" \
        --admin-listen "127.0.0.1:${admin[$1]}" --websocket-listen "" >>"$work/$1.log" 2>&1 &
    pid[$1]=$!
    pids+=("${pid[$1]}")
}
forget() { local rest=() p; for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done; pids=("${rest[@]}"); }
wait_slave() { # node seconds: the admin server answers /role with 503
    local code
    for _ in $(seq 1 $(($2 * 20))); do
        kill -0 "${pid[$1]}" 2>/dev/null || return 1
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${admin[$1]}/role" || true)
        [ "$code" = 503 ] && return 0
        sleep 0.05
    done
    return 1
}
master() { # the node whose OpenWire port is open
    local n
    for _ in $(seq 1 600); do
        for n in a b; do port_open "${ow[$n]}" && { echo "$n"; return 0; }; done
        sleep 0.05
    done
    return 1
}

log "starting node a (master) and node b (slave) on database $db"
start_node a
wait_port "${ow[a]}" "${pid[a]}" 60 || { tail -n 30 "$work/a.log" >&2; die "node a did not become master"; }
start_node b
wait_slave b 60 || { tail -n 30 "$work/b.log" >&2; die "node b did not become a slave"; }

failover_url="failover:(tcp://127.0.0.1:${ow[a]},tcp://127.0.0.1:${ow[b]})${OPTS}"
log "Java client on $failover_url"
java -cp "$jms_cp" JmsBench failover --url "$failover_url" --dest failover.bench >"$work/java.out" 2>"$work/java.err" &
java_pid=$!
pids+=("$java_pid")

# One round: waits until the client's last confirmed send went through the
# victim, kills it, waits for the first send confirmed through another
# node. Prints "<ms> <port>", or "precheck-failed ..." / "timeout ...".
probe() { # victim-pid victim-port
    python3 - "$work/java.out" "$1" "$2" <<'EOF'
import json, os, signal, sys, time
path, victim, vport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
port = lambda remote: str(remote).rsplit(":", 1)[-1]

def lines(f):
    """The complete new lines, parsed; a partial last line is left."""
    while True:
        line = f.readline()
        if not line.endswith(b"\n"):
            if line:
                f.seek(-len(line), os.SEEK_CUR)
            return
        try:
            yield json.loads(line)
        except ValueError:
            pass

with open(path, "rb") as f:
    f.seek(0, os.SEEK_END)
    # Precheck: within 10 s an "alive" line (at most every 500 ms) shows a
    # send confirmed through the victim.
    deadline = time.monotonic() + 10
    ok = False
    while not ok and time.monotonic() < deadline:
        for e in lines(f):
            if e.get("event") == "alive" and port(e.get("remote")) == vport:
                ok = True
        time.sleep(0.01)
    if not ok:
        print("precheck-failed: the client confirmed no send through port " + vport)
        sys.exit(2)
    t0 = time.monotonic_ns()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for e in lines(f):
            if e.get("event") == "error":
                print("client-error: " + str(e.get("error")))
                sys.exit(1)
            if e.get("event") == "confirmed" and e["mono_ns"] > t0 and port(e.get("remote")) != vport:
                print("%.1f %s" % ((e["mono_ns"] - t0) / 1e6, port(e.get("remote"))))
                sys.exit(0)
        time.sleep(0.002)
    print("timeout: no send confirmed through another node within 60 s")
    sys.exit(1)
EOF
}

samples=() failures=()
for i in $(seq 1 "$N"); do
    m=$(master) || die "no master after 30 s"
    out=$(probe "${pid[$m]}" "${ow[$m]}") || true
    if [[ ${out%% *} =~ ^[0-9.]+$ ]]; then
        samples+=("${out%% *}")
        log "round $i: ${out%% *} ms (killed $m, confirmed through port ${out##* })"
    else
        failures+=("round $i: $out")
        log "round $i: FAILED: $out"
        case $out in precheck-failed*)
            tail -n 20 "$work/java.out" "$work/java.err" >&2
            die "the client did not send through the master before the kill"
            ;;
        esac
    fi
    { wait "${pid[$m]}"; } 2>/dev/null || true
    forget "${pid[$m]}"
    start_node "$m"
    wait_slave "$m" 60 || { tail -n 30 "$work/$m.log" >&2; die "restarted node $m did not become a slave"; }
    sleep "$SETTLE"
done
kill -0 "$java_pid" 2>/dev/null || failures+=("the Java client exited: $(tail -n 3 "$work/java.out" "$work/java.err" | tr '\n' ' ')")
sent=$(grep '"event":"alive"' "$work/java.out" | tail -n 1 | sed -E 's/.*"seq":([0-9]+).*/\1/')
stop_pid "$java_pid"
load_end=$(loadavg)

stats=$(python3 -c 'import sys, statistics as s
v = [float(x) for x in sys.argv[1:]]
print("%d|%s" % (len(v), "%.0f|%.0f|%.0f" % (min(v), s.median(v), max(v)) if v else "n/a|n/a|n/a"))' "${samples[@]}")
IFS='|' read -r n mn md mx <<<"$stats"
cat <<EOF
## Failover time with the Java client: Baton pair on PostgreSQL, session mode

- date: $started_at
- machine: \`nproc\` = $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)
- load average (1/5/15 min): $load_start at the start, $load_end at the end (waited ${waited} s for the 1-minute load to drop below ${BENCH_QUIET_LOAD:-0.8})
- software: $("$baton" --version) ($baton_build); $(psql_ -c 'select version()' | cut -d' ' -f1-2); Java client libactivemq-java $(dpkg-query -W -f='${Version}' libactivemq-java 2>/dev/null || echo n/a) on $(java -version 2>&1 | head -n1)
- nodes: \`baton serve --database-url postgres://…/<fresh db> --election-mode session --openwire-listen 127.0.0.1:<${ow[a]}|${ow[b]}> --stomp-listen … --admin-listen … --websocket-listen ""\`, default election settings
- client: \`JmsBench failover\` (tests/java/JmsBench.java) on \`$failover_url\`: one connection, persistent 1 KiB BytesMessages sent without pause (sync sends; about ${sent:-?} in all) and consumed by a second session of the same connection (auto acknowledge), so the queue stays short
- failover time = from just before \`os.kill(master, SIGKILL)\` to the first \`send()\` the client saw confirmed through the other node (System.nanoTime() and time.monotonic_ns(), both CLOCK_MONOTONIC); after each round the killed node is restarted and the script waits until it is a slave again, then ${SETTLE} s
- command: \`BENCH_N=$N${OPTS:+ BENCH_FAILOVER_OPTS='$OPTS'} scripts/bench/openwire-failover.sh\`

| rounds ok / run | min ms | median ms | max ms | all samples (ms, in order) |
|---|---|---|---|---|
| $n / $N | $mn | $md | $mx | ${samples[*]:-} |
EOF
if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "Failures:"
    echo
    printf -- '- %s\n' "${failures[@]}"
fi
