#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with Rust: installs what is
# missing (a Python venv with stomp.py), then checks formatting and lints and
# runs every unit and integration test against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if ! "$venv/bin/python" -c "import stomp" 2>/dev/null; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        echo "installing python3-venv" >&2
        apt-get install -y -q python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q -r tests/interop/requirements.txt
fi
export STOMP_PY_PYTHON="$PWD/$venv/bin/python"

for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
