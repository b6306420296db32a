#!/usr/bin/env bash
# Installs what the test suite needs on Debian 12, skipping whatever is already there:
# a C compiler and pkg-config (bundled SQLite, ring), PostgreSQL 15 (store tests), OpenLDAP's
# slapd with ldap-utils and openssl (directory login tests, over TLS), Prometheus (scrapes
# /metrics in a test), Chromium and its WebDriver (web UI tests, headless), python3
# (free-port helper) and cargo-nextest (the test runner).
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v python3 >/dev/null || need+=(python3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15 postgresql-client-15)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapmodify >/dev/null || need+=(ldap-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v prometheus >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  # slapd without the package's own directory: the tests start their own (ldap-test-server.sh).
  echo 'slapd slapd/no_configuration boolean true' | $sudo_cmd debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest" >&2
  cargo install cargo-nextest --locked
fi
