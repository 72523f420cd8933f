#!/usr/bin/env bash
# The JMS scenarios of tests/common/jms_scenarios.rs against the reference
# broker, Debian's ActiveMQ 5.17 (JDBC store on a PostgreSQL database of the
# test's own): what the OpenWire tests expect from Baton is what ActiveMQ
# does. Not part of scripts/test.sh (see Cargo.toml). Needs what
# scripts/test.sh installs (JDK, libactivemq-java, activemq, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy --test java_activemq_baseline -- -D warnings
exec cargo test --test java_activemq_baseline -- "$@"
