#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12 with only the Rust toolchain:
# installs what the tests need, starts a throwaway PostgreSQL on loopback, checks format and
# lints, and runs every test (SQLite and PostgreSQL) with nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
eval "$(scripts/pg-test-server.sh start)"
trap 'scripts/pg-test-server.sh stop "$PGTEST_DIR"' EXIT
echo "test PostgreSQL: ${DATABASE_URL}" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo nextest run --workspace --profile ci "$@"
