#!/usr/bin/env bash
# Builds vdc (release) and runs `vdc serve` on the embedded default: SQLite in ./vdc-data,
# API on 127.0.0.1:8080, a simulated fleet of 8 hosts and 40 VMs. Extra arguments go to
# `vdc serve` (see `vdc serve --help`). Installs a C compiler and pkg-config first if the
# machine lacks them (bundled SQLite and ring compile C).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi
exec cargo run --release --locked -p vdc-cli --bin vdc -- serve "$@"
