#!/usr/bin/env bash
# libvirt-lab.sh - the project's real libvirt + QEMU lab (adapted from the team recipe) on a Debian 12 (bookworm) machine
# without systemd, as root. Verified on the project's `rust` machine kind
# (Firecracker VM, 2 cores, 24 GiB, libvirt 11.3.0, QEMU 10.0.2).
#
# Usage (all subcommands are idempotent):
#   libvirt-lab.sh DIR             = install + configure + guest DIR + start
#   libvirt-lab.sh up DIR          same as above
#   libvirt-lab.sh install         apt: libvirt + qemu from bookworm-backports
#   libvirt-lab.sh configure       managed blocks in /etc/libvirt/{qemu,libvirtd}.conf
#   libvirt-lab.sh guest DIR       build vmlinuz + initrd.img + disk.qcow2 + domain XMLs in DIR
#   libvirt-lab.sh start           start virtlogd + libvirtd in the background, print PIDs
#   libvirt-lab.sh stop            destroy running qemu:///system domains, stop both daemons
#                                  (and host2 if it runs)
#   libvirt-lab.sh status          PIDs and `virsh list --all`
#   libvirt-lab.sh smoke DIR [qemu|kvm] [TIMEOUT_S]
#                                  define+start the tiny guest, wait for its serial
#                                  marker, print the boot time, ACPI-shutdown, undefine
#   libvirt-lab.sh host2 start|stop|kill|uri
#                                  a second libvirtd ("host 2") in a private mount
#                                  namespace, for migration tests; `uri` prints its URI;
#                                  `kill` is a power loss (SIGKILL to its daemons and
#                                  QEMUs), and host 2's fence agent for HA tests
#
# Environment: VDC_LAB_STATE (default /var/lib/vdc-lab) holds host2's state.
# Downloads nothing but Debian packages (apt-get install / apt-get download).
set -euo pipefail

STATE=${VDC_LAB_STATE:-/var/lib/vdc-lab}
BPO=bookworm-backports
MARKER=VDC-GUEST-UP
LIBVIRTD_PID=/run/libvirtd.pid
VIRTLOGD_PID=/run/virtlogd.pid

log() { printf '[libvirt-lab] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "run as root"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
fmt_ms() { printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )); }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$1" ] && cat "$1" || true; }

# ---------------------------------------------------------------- install
# Debian 12's own qemu-system-x86 (7.2) conflicts with the machine's preinstalled
# qemu-utils 10.0.2 from bookworm-backports (qemu-utils Breaks qemu-system-common
# << 8.0), so take libvirt 11.3 + QEMU 10.0 from bookworm-backports, naming every
# package whose exact version is pinned by another one.
PKGS_BPO="libvirt0 libvirt-common libvirt-clients libvirt-daemon libvirt-daemon-common
  libvirt-daemon-log libvirt-daemon-driver-qemu libvirt-daemon-driver-network
  libvirt-daemon-driver-storage libvirt-daemon-driver-nodedev libvirt-dev
  qemu-system-x86 qemu-system-common qemu-system-data qemu-utils seabios"
PKGS_STABLE="pkg-config"

cmd_install() {
  need_root
  if ! grep -rqs "$BPO" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding $BPO to /etc/apt/sources.list.d/debian-backports.sources"
    # Same Debian mirror that apt already uses for bookworm.
    local mirror
    mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || { echo "no Debian bookworm mirror found in apt's sources" >&2; exit 1; }
    cat > /etc/apt/sources.list.d/debian-backports.sources <<EOF
Types: deb
URIs: $mirror
Suites: $BPO
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
  fi
  local missing=0 p
  for p in $PKGS_BPO $PKGS_STABLE; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing=1
  done
  if [ "$missing" = 1 ]; then
    apt-get update -qq
    local args=() p
    for p in $PKGS_BPO; do args+=("$p/$BPO"); done
    log "apt-get install ${args[*]} $PKGS_STABLE"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${args[@]}" $PKGS_STABLE >/dev/null
  fi
  log "installed: $(virsh --version 2>/dev/null | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version | head -1)"
}

# ---------------------------------------------------------------- configure
# Replace (or append) a block between BEGIN/END markers; print "changed" if it did.
managed_block() { # FILE CONTENT
  local f=$1 content=$2 tmp
  tmp=$(mktemp)
  if [ -f "$f" ]; then sed '/^# BEGIN vdc-lab$/,/^# END vdc-lab$/d' "$f" > "$tmp"; fi
  printf '# BEGIN vdc-lab\n%s\n# END vdc-lab\n' "$content" >> "$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; else cat "$tmp" > "$f"; rm -f "$tmp"; echo changed; fi
}

cmd_configure() {
  need_root
  [ -d /etc/libvirt ] || die "libvirt is not installed (run: $0 install)"
  local c1 c2
  # qemu runs as root, no DAC relabelling / AppArmor, and no cgroups of its own:
  # QEMU stays in the caller's cgroup, which works the same with or without systemd.
  c1=$(managed_block /etc/libvirt/qemu.conf 'user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
cgroup_controllers = [ ]')
  c2=$(managed_block /etc/libvirt/libvirtd.conf 'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"')
  mkdir -p /var/log/libvirt
  if [ -n "$c1$c2" ]; then
    log "configuration written"
    if alive "$(pid_of $LIBVIRTD_PID)"; then log "libvirtd running: restarting it"; stop_daemons; cmd_start; fi
  fi
}

# ---------------------------------------------------------------- guest
# Tiny guest from Debian packages: linux-image-cloud-amd64's vmlinuz + an
# initramfs with busybox-static whose /init loads virtio modules, prints
# "VDC-GUEST-UP ..." on ttyS0, and powers off on the ACPI power button.
GUEST_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
  virtio_balloon virtio_blk failover net_failover virtio_net evdev button"

cmd_guest() {
  local dir=${1:?usage: guest DIR}
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ] && [ -s "$dir/domain-qemu.xml" ]; then
    log "guest already built in $dir"; return 0
  fi
  local work kpkg kver m f
  work=$(mktemp -d /tmp/vdc-guest.XXXXXX); chmod 755 "$work"; chown _apt "$work" 2>/dev/null || true
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ && !p {print $2; p=1}')
  [ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 (apt-get update?)"
  log "downloading $kpkg and busybox-static (Debian packages)"
  (cd "$work" && apt-get download -q "$kpkg" busybox-static >/dev/null 2>&1) || die "apt-get download failed"
  dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
  kver=$(ls "$work/k/lib/modules")
  local r="$work/root" bb="$work/bb/bin/busybox"
  mkdir -p "$r"/{bin,proc,sys,dev,tmp,mnt,var/log,etc/acpi/PWRF,lib/modules/$kver}
  cp "$bb" "$r/bin/busybox"; ln -s busybox "$r/bin/sh"
  for m in $GUEST_MODULES; do
    f=$(find "$work/k/lib/modules/$kver" -name "$m.ko*" -print -quit)
    [ -n "$f" ] || { log "warning: module $m not in $kpkg"; continue; }
    case "$f" in
      *.ko) cp "$f" "$r/lib/modules/$kver/" ;;
      *.ko.xz) xz -dc "$f" > "$r/lib/modules/$kver/$m.ko" ;;
      *.ko.zst) zstd -qdc "$f" > "$r/lib/modules/$kver/$m.ko" ;;
      *.ko.gz) gzip -dc "$f" > "$r/lib/modules/$kver/$m.ko" ;;
    esac
  done
  cat > "$r/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "VDC-GUEST-POWEROFF" > /dev/ttyS0
/bin/busybox poweroff -f
EOF
  chmod 755 "$r/etc/acpi/PWRF/00000080"
  cat > "$r/init" <<EOF
#!/bin/sh
B=/bin/busybox
\$B mount -t proc proc /proc
\$B mount -t sysfs sys /sys
\$B mount -t devtmpfs dev /dev
for m in $(echo $GUEST_MODULES); do
  [ -f /lib/modules/$kver/\$m.ko ] && { \$B insmod /lib/modules/$kver/\$m.ko 2>/dev/null || echo "insmod \$m failed" > /dev/ttyS0; }
done
# wait (at most 2 s) until every input device has its /dev node, then start acpid
for i in \$(\$B seq 20); do
  [ "\$(\$B ls /sys/class/input | \$B grep -c event)" = "\$(\$B ls /dev/input 2>/dev/null | \$B grep -c event)" ] && break
  \$B sleep 0.1
done
\$B acpid -f -c /etc/acpi -l /var/log/acpid.log &
# wait (at most 2 s) until every virtio block device (virtio id 2) has shown up as /sys/block/vd*
want=\$(\$B cat /sys/bus/virtio/devices/*/device 2>/dev/null | \$B grep -c 0x0002)
for i in \$(\$B seq 20); do
  [ "\$(\$B ls /sys/block | \$B grep -c '^vd')" -ge "\$want" ] && break
  \$B sleep 0.1
done
\$B ip link set lo up
for i in /sys/class/net/eth*; do [ -e "\$i" ] && \$B ip link set "\${i##*/}" up; done
echo "$MARKER uptime=\$(\$B cut -d' ' -f1 /proc/uptime) disks=\$(\$B ls /sys/block | \$B tr '\n' ,) nics=\$(\$B ls /sys/class/net | \$B tr '\n' ,) mem_kb=\$(\$B awk '/MemTotal/{print \$2}' /proc/meminfo)" > /dev/ttyS0
[ -b /dev/vda ] && \$B dd if=/dev/vda of=/dev/null bs=64k count=16 2>/dev/null
while :; do \$B sleep 3600; done
EOF
  chmod 755 "$r/init"
  (cd "$r" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) > "$dir/initrd.img"
  cp "$work/k/boot/vmlinuz-$kver" "$dir/vmlinuz"
  echo "$kpkg" > "$dir/KERNEL"
  [ -f "$dir/disk.qcow2" ] || qemu-img create -q -f qcow2 "$dir/disk.qcow2" 64M
  local t
  for t in qemu kvm; do
    domain_xml "$dir" "vdc-tiny-$t" "$t" 128 > "$dir/domain-$t.xml"
  done
  rm -rf "$work"
  log "guest built in $dir: vmlinuz ($kpkg), initrd.img, disk.qcow2, domain-qemu.xml (TCG), domain-kvm.xml"
}

# domain_xml DIR NAME TYPE(qemu|kvm) MEM_MIB [with-disk=1]
# 80 MiB is the least memory the Debian cloud kernel boots in; 64 MiB does not boot.
domain_xml() {
  local dir=$1 name=$2 type=$3 mem=$4 disk=${5:-1} tcg="" diskxml=""
  if [ "$type" = qemu ]; then tcg="<tcg><tb-cache unit='MiB'>32</tb-cache></tcg>"; fi
  if [ "$disk" = 1 ]; then diskxml="<disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$dir/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>"; fi
  cat <<EOF
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$dir/vmlinuz</kernel>
    <initrd>$dir/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <features><acpi/>$tcg</features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    $diskxml
    <interface type='ethernet'><model type='virtio'/></interface>
    <serial type='file'>
      <source path='$dir/serial-$name.log' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='virtio'><stats period='2'/></memballoon>
    <video><model type='none'/></video>
  </devices>
</domain>
EOF
}

# ---------------------------------------------------------------- daemons
cmd_start() {
  need_root
  command -v libvirtd >/dev/null || die "libvirtd missing (run: $0 install)"
  mkdir -p /var/log/libvirt
  if ! alive "$(pid_of $VIRTLOGD_PID)"; then virtlogd -d -p $VIRTLOGD_PID; fi
  if ! alive "$(pid_of $LIBVIRTD_PID)"; then libvirtd -d -p $LIBVIRTD_PID; fi
  local i
  for i in $(seq 100); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.1
  done
  virsh -c qemu:///system version >/dev/null 2>&1 || die "libvirtd did not answer (see /var/log/libvirt/libvirtd.log)"
  echo "virtlogd pid $(pid_of $VIRTLOGD_PID)"
  echo "libvirtd pid $(pid_of $LIBVIRTD_PID)"
}

stop_pidfile() { # PIDFILE NAME
  local pid; pid=$(pid_of "$1")
  if alive "$pid"; then
    kill "$pid"
    local i; for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid"; fi
    log "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

stop_daemons() { stop_pidfile $LIBVIRTD_PID libvirtd; stop_pidfile $VIRTLOGD_PID virtlogd; }

destroy_all() { # URI
  local d
  for d in $(virsh -c "$1" list --name 2>/dev/null); do
    if virsh -c "$1" destroy "$d" >/dev/null 2>&1; then log "destroyed domain $d on $1"; fi
  done
}

cmd_stop() {
  need_root
  if [ -d "$STATE/host2" ]; then host2_stop; fi
  if alive "$(pid_of $LIBVIRTD_PID)"; then destroy_all qemu:///system; fi
  stop_daemons
}

cmd_status() {
  echo "virtlogd pid $(pid_of $VIRTLOGD_PID) $(alive "$(pid_of $VIRTLOGD_PID)" && echo running || echo stopped)"
  echo "libvirtd pid $(pid_of $LIBVIRTD_PID) $(alive "$(pid_of $LIBVIRTD_PID)" && echo running || echo stopped)"
  if alive "$(pid_of $LIBVIRTD_PID)"; then virsh -c qemu:///system list --all; fi
  if alive "$(pid_of "$STATE/host2/libvirtd.pid")"; then
    echo "host2 libvirtd pid $(pid_of "$STATE/host2/libvirtd.pid"): $(host2_uri)"
    virsh -c "$(host2_uri)" list --all
  fi
}

# ---------------------------------------------------------------- smoke test
cmd_smoke() {
  local dir=${1:?usage: smoke DIR [qemu|kvm] [TIMEOUT_S]} type=${2:-qemu} timeout=${3:-120}
  dir=$(cd "$dir" && pwd)
  local name="vdc-smoke-$type" xml log t0 t1 i
  xml=$(mktemp); log="$dir/serial-$name.log"
  domain_xml "$dir" "$name" "$type" 128 0 > "$xml"
  virsh -q destroy "$name" >/dev/null 2>&1 || true
  virsh -q undefine "$name" >/dev/null 2>&1 || true
  rm -f "$log"
  virsh -q define "$xml" >/dev/null; rm -f "$xml"
  t0=$(now_ms)
  virsh -q start "$name" >/dev/null
  t1=""
  while [ $(( $(now_ms) - t0 )) -lt $(( timeout * 1000 )) ]; do
    if grep -q "$MARKER" "$log" 2>/dev/null; then t1=$(now_ms); break; fi
    sleep 0.1
  done
  if [ -n "$t1" ]; then
    echo "smoke $type: marker after $(fmt_ms $((t1 - t0))) s: $(grep -a "$MARKER" "$log" | tr -d '\r')"
    t0=$(now_ms); virsh -q shutdown "$name" >/dev/null
    for i in $(seq 300); do [ "$(virsh domstate "$name" 2>/dev/null)" = "shut off" ] && break; sleep 0.1; done
    echo "smoke $type: ACPI shutdown took $(fmt_ms $(( $(now_ms) - t0 ))) s ($(virsh domstate "$name"))"
  else
    echo "smoke $type: NO marker within ${timeout}s (under this machine's /dev/kvm, type kvm crawls: use qemu)"
  fi
  virsh -q destroy "$name" >/dev/null 2>&1 || true
  virsh -q undefine "$name" >/dev/null
  [ -n "$t1" ]
}

# ---------------------------------------------------------------- host2
# A second libvirtd on the same machine: private mount namespace in which its own
# directories are bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt and /var/log/libvirt; its own host UUID; reached from
# outside through its socket file. Live migration between the two works
# (virsh migrate --live --unsafe ... --migrateuri tcp://127.0.0.1).
host2_uri() { echo "qemu+unix:///system?socket=$STATE/host2/run/libvirt-sock"; }

host2_start() {
  need_root
  local h="$STATE/host2"
  if alive "$(pid_of "$h/libvirtd.pid")"; then echo "host2 libvirtd pid $(pid_of "$h/libvirtd.pid")"; host2_uri; return 0; fi
  mkdir -p "$h"/{etc,run,lib,cache,log/qemu}
  if [ ! -f "$h/etc/libvirtd.conf" ]; then
    cp -a /etc/libvirt/. "$h/etc/"
    rm -f "$h"/etc/qemu/*.xml "$h"/etc/qemu/networks/*.xml "$h"/etc/storage/*.xml 2>/dev/null || true
    printf 'host_uuid = "%s"\n' "$(cat /proc/sys/kernel/random/uuid)" >> "$h/etc/libvirtd.conf"
  fi
  mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
  unshare -m --propagation private bash -c "
    set -e
    mount --bind '$h/etc' /etc/libvirt
    mount --bind '$h/run' /run/libvirt
    mount --bind '$h/lib' /var/lib/libvirt
    mount --bind '$h/cache' /var/cache/libvirt
    mount --bind '$h/log' /var/log/libvirt
    virtlogd -d -p '$h/virtlogd.pid'
    libvirtd -d -p '$h/libvirtd.pid'
  "
  local i; for i in $(seq 100); do virsh -c "$(host2_uri)" version >/dev/null 2>&1 && break; sleep 0.1; done
  virsh -c "$(host2_uri)" version >/dev/null 2>&1 || die "host2 libvirtd did not answer"
  echo "host2 virtlogd pid $(pid_of "$h/virtlogd.pid")"
  echo "host2 libvirtd pid $(pid_of "$h/libvirtd.pid")"
  host2_uri
}

host2_stop() {
  local h="$STATE/host2"
  if alive "$(pid_of "$h/libvirtd.pid")"; then destroy_all "$(host2_uri)"; fi
  stop_pidfile "$h/libvirtd.pid" "host2 libvirtd"
  stop_pidfile "$h/virtlogd.pid" "host2 virtlogd"
}

# Host 2 loses its power: its libvirtd, virtlogd and every QEMU it runs are killed at once
# (SIGKILL, no shutdown, domains stay defined). Idempotent, so it is also host 2's fence
# agent: exit status 0 means host 2 is off.
host2_kill() {
  local h="$STATE/host2" f pid
  for f in "$h/libvirtd.pid" "$h/virtlogd.pid" "$h"/run/qemu/*.pid; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if alive "$pid"; then kill -9 "$pid"; log "killed pid $pid ($f)"; fi
  done
  for f in "$h/libvirtd.pid" "$h/virtlogd.pid" "$h"/run/qemu/*.pid; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    local i; for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && die "pid $pid ($f) survived SIGKILL"
  done
  return 0
}

# ---------------------------------------------------------------- main
cmd_up() {
  local dir=${1:?usage: $0 DIR}
  cmd_install
  cmd_configure
  cmd_guest "$dir"
  cmd_start
}

case "${1:-}" in
  install) cmd_install ;;
  configure) cmd_configure ;;
  guest) shift; cmd_guest "$@" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  smoke) shift; cmd_smoke "$@" ;;
  host2)
    case "${2:-}" in
      start) host2_start ;; stop) need_root; host2_stop ;; uri) host2_uri ;;
      kill) need_root; host2_kill ;;
      *) die "usage: $0 host2 start|stop|kill|uri" ;;
    esac ;;
  up) shift; cmd_up "$@" ;;
  ""|-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  *) cmd_up "$1" ;;
esac
