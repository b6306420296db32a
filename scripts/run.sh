#!/usr/bin/env bash
# Builds vdc (release, with libvirt support) and runs `vdc serve` on the embedded default:
# SQLite in ./vdc-data, API on 127.0.0.1:8080, a simulated fleet of 8 hosts and 40 VMs; add
# real hosts with `vdc host add --uri qemu+ssh://root@kvm1/system`. Extra arguments go to
# `vdc serve` (see `vdc serve --help`). Installs what the build needs first if the machine
# lacks it: a C compiler and pkg-config (bundled SQLite and ring compile C) and libvirt's
# development package (vdc links libvirt).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libvirt 2>/dev/null || need+=(libvirt-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}"
fi
exec cargo run --release --locked -p vdc-cli --features libvirt --bin vdc -- serve "$@"
