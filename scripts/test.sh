#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with Rust: installs what is
# missing (a Python venv with stomp.py and Schemathesis, a JDK with the
# ActiveMQ Java client and broker), then checks formatting and lints and
# runs a short bounded fuzzing pass and every unit and integration test
# against the real binary (on SQLite, PostgreSQL and MariaDB).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if ! "$venv/bin/python" -c "import stomp" 2>/dev/null; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        echo "installing python3-venv" >&2
        apt-get install -y -q python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
fi
if ! "$venv/bin/python" -c "import stomp, schemathesis" 2>/dev/null; then
    "$venv/bin/pip" install -q -r tests/interop/requirements.txt
fi
export STOMP_PY_PYTHON="$PWD/$venv/bin/python"

# The HA and store tests need PostgreSQL (127.0.0.1:5432, user postgres,
# trust auth) and MariaDB (127.0.0.1:3306, root, no password); start them if
# they are installed but stopped, install them if missing. The tests also
# start private instances with initdb / mariadb-install-db.
if ! command -v pg_ctlcluster >/dev/null || ! command -v mariadbd >/dev/null; then
    echo "installing PostgreSQL and MariaDB" >&2
    apt-get install -y -q postgresql mariadb-server >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    echo "starting MariaDB" >&2
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do
        mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break
        sleep 0.5
    done
fi
# The admin server tests check /metrics with promtool (package prometheus)
# and put HAProxy in front of two nodes.
if ! command -v promtool >/dev/null || ! command -v haproxy >/dev/null; then
    echo "installing prometheus (promtool) and haproxy" >&2
    apt-get install -y -q --no-install-recommends prometheus haproxy >/dev/null
fi
# The dashboard test and the @stomp/stompjs test (whose npm bundle is
# vendored in tests/clients/stompjs/) drive Debian's headless Chromium
# through chromedriver; the latter also puts HAProxy in front of two nodes.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "installing chromium and chromium-driver" >&2
    apt-get install -y -q chromium chromium-driver >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
fi
# The OpenWire tests drive the real ActiveMQ Java client: a JDK (javac) and
# Debian's libactivemq-java 5.17 with the jars of its classpath
# (tests/common/java.rs compiles tests/java/*.java with them).
# scripts/activemq-baseline.sh (not run here) checks those programs against
# the reference broker, Debian's activemq 5.17, with a JDBC store on
# PostgreSQL (the PostgreSQL driver and the commons-dbcp pool with its
# commons-pool); they are installed here too, so that script has them.
java_pkgs=()
command -v javac >/dev/null || java_pkgs+=(default-jdk-headless)
for entry in \
    /usr/share/java/activemq-client.jar:libactivemq-java \
    /usr/share/java/geronimo-jms_1.1_spec.jar:libgeronimo-jms-1.1-spec-java \
    /usr/share/java/hawtbuf.jar:libhawtbuf-java \
    /usr/share/java/slf4j-api.jar:libslf4j-java \
    /usr/share/java/slf4j-nop.jar:libslf4j-java \
    /usr/share/java/geronimo-j2ee-management-1.1-spec.jar:libgeronimo-j2ee-management-1.1-spec-java \
    /usr/share/activemq/bin/activemq.jar:activemq \
    /usr/share/java/postgresql.jar:libpostgresql-jdbc-java \
    /usr/share/java/commons-dbcp.jar:libcommons-dbcp-java \
    /usr/share/java/commons-pool.jar:libcommons-pool-java; do
    [ -e "${entry%%:*}" ] || java_pkgs+=("${entry##*:}")
done
if [ ${#java_pkgs[@]} -gt 0 ]; then
    echo "installing ${java_pkgs[*]}" >&2
    apt-get install -y -q --no-install-recommends "${java_pkgs[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${java_pkgs[@]}" >/dev/null; }
fi
pg_isready -h 127.0.0.1 -p 5432
mariadb-admin -h 127.0.0.1 -u root ping

for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

# Fuzzing (docs/fuzzing.md): a short bounded libFuzzer run of each
# cargo-fuzz target (BATON_FUZZ_SECONDS each, default 10), which first runs
# every committed seed and past crash. cargo-fuzz needs nightly-only flags;
# RUSTC_BOOTSTRAP=1 allows them on the stable toolchain, for these commands
# only. The short run is an unoptimized build (`--dev`: it builds in about
# half the time of a release build, and keeps debug assertions such as
# overflow checks on) without AddressSanitizer (the targets are safe Rust;
# it only slows the build); the long run in docs/fuzzing.md keeps both. The fuzz
# crate's clippy and its stable seed replay are not repeated here (each
# would build the crate once more); run them when changing fuzz/ (docs/fuzzing.md).
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in stomp_decoder openwire_decoder failover_url config import_activemq; do
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/corpus/$target.log"
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --dev --sanitizer none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -- -max_total_time="${BATON_FUZZ_SECONDS:-10}" >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target (see docs/fuzzing.md)" >&2
        exit 1
    fi
    echo "fuzz $target: $(grep -a '^Done' "$log" | tail -n 1)"
done

cargo test --all-targets
