#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12 with only the Rust toolchain:
# installs what the tests need, starts a throwaway PostgreSQL on loopback and a real
# libvirtd + QEMU lab (TCG guests, two libvirtds for migration), checks format and lints, and runs every test (SQLite,
# PostgreSQL, simulator, libvirt) with nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
scripts/install-test-deps.sh
export VDC_LAB_GUEST=${VDC_LAB_GUEST:-/var/lib/vdc-lab/guest}
lab_was_running=0
[ -s /run/libvirtd.pid ] && kill -0 "$(cat /run/libvirtd.pid)" 2>/dev/null && lab_was_running=1
as_root scripts/libvirt-lab.sh up "$VDC_LAB_GUEST"
# The second libvirtd ("host 2") that live-migration tests move guests to.
as_root scripts/libvirt-lab.sh host2 start >/dev/null
eval "$(scripts/pg-test-server.sh start)"
cleanup() {
  scripts/pg-test-server.sh stop "$PGTEST_DIR"
  [ "$lab_was_running" = 1 ] || as_root scripts/libvirt-lab.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo "test PostgreSQL: ${DATABASE_URL}; libvirt lab guest: ${VDC_LAB_GUEST}" >&2
cargo fmt --all -- --check
# Both feature sets: without libvirt (the pure build any machine can make) and with it.
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings
export VDC_TEST_ARTIFACTS=${VDC_TEST_ARTIFACTS:-$PWD/test-artifacts}
cargo nextest run --workspace --all-features --profile ci "$@"
echo "browser screenshots: $VDC_TEST_ARTIFACTS/ui" >&2
