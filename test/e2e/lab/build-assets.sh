#!/usr/bin/env bash
# build-assets.sh - the Linux guest of the e2e "known machine" case, built from Debian packages only.
#
#   $CACHE/linux/vmlinuz     Debian's cloud kernel (package linux-image-<version>-cloud-amd64)
#   $CACHE/linux/initrd.gz   busybox initramfs; its /init loads the virtio-net modules, gets an address
#                            with udhcpc, POSTs one boot-log line to the URL given on the kernel command
#                            line as nbe2e.log=<url> (with busybox wget), prints markers on the console and
#                            powers the VM off. Markers start with "NBE2E:".
#
#   $CACHE/linux/registration.img
#                            the registration image's initramfs (what /boot/register.ipxe loads as
#                            registration/initrd.img): the same busybox and modules, and the project's
#                            real boot-assets/registration/register.sh as /register.sh. Its /init brings
#                            the network up the same way, runs register.sh unchanged (it reads
#                            netboot_server= and netboot_mac= from the command line our server wrote and
#                            POSTs /api/v1/enroll with busybox wget), prints what it did on ttyS0 (the
#                            server's command line has no console=) and powers the VM off.
#
# The cloud kernel has no e1000 driver: the VM of that case uses a virtio-net NIC (QEMU's virtio option
# ROM is iPXE too). Nothing here is committed; $CACHE is git-ignored. The kernel package is downloaded
# once (apt-get download, needs the apt lists: apt-get update); later runs reuse it and work offline.
#
# Usage: build-assets.sh [CACHE]     (default: <repo>/.e2e-cache)
# Env: KERNEL_PKG to pin the kernel package (default: what linux-image-cloud-amd64 depends on).
# Needs: busybox-static (also its cpio), dpkg-deb, gzip, apt-get (first run only).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${1:-$HERE/../../../.e2e-cache}"
mkdir -p "$CACHE/linux" "$CACHE/dl"
CACHE="$(cd "$CACHE" && pwd)"
L="$CACHE/linux"
MODS=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net)

have_kernel() {
  [ -s "$L/vmlinuz" ] || return 1
  for m in "${MODS[@]}"; do [ -s "$L/modules/$m.ko" ] || return 1; done
}

if ! have_kernel; then
  pkg="${KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')}"
  [ -n "$pkg" ] || { echo "build-assets: cannot resolve the cloud kernel package (apt-get update first, or set KERNEL_PKG)" >&2; exit 1; }
  echo "build-assets: downloading $pkg" >&2
  rm -f "$CACHE/dl/"*.deb
  # apt-get download runs as the _apt user when it can: let it write here
  chmod 777 "$CACHE/dl"
  (cd "$CACHE/dl" && apt-get download -q "$pkg") >&2
  x="$CACHE/dl/x"; rm -rf "$x"; dpkg-deb -x "$CACHE"/dl/"$pkg"_*.deb "$x"
  cp "$x"/boot/vmlinuz-* "$L/vmlinuz"
  rm -rf "$L/modules"; mkdir -p "$L/modules"
  for m in "${MODS[@]}"; do
    f="$(find "$x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -1)"
    [ -n "$f" ] || { echo "build-assets: module $m not in $pkg" >&2; exit 1; }
    case "$f" in *.xz) xz -dc "$f" >"$L/modules/$m.ko" ;; *) cp "$f" "$L/modules/$m.ko" ;; esac
  done
  echo "$pkg" >"$L/kernel-package"
  rm -rf "$x" "$CACHE"/dl/*.deb
fi

# the initramfs is cheap: rebuild it every time so a change of /init below always lands
root="$CACHE/dl/initramfs"; rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,etc,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
cp "$L"/modules/*.ko "$root/lib/modules/"
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
cat >"$root/udhcpc.sh" <<'SH'
#!/bin/busybox sh
# udhcpc event script: configure the address, nothing else (no routes or DNS needed in the lab)
case "$1" in
  bound|renew) /bin/busybox ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up ;;
esac
exit 0
SH
cat >"$root/init" <<'SH'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
say() { echo "NBE2E: $*"; }
finish() { say "poweroff ........................................"; $B sleep 1; $B poweroff -f; }
say "linux-up kernel=$($B uname -r)"
url=""
for a in $($B cat /proc/cmdline); do case "$a" in nbe2e.log=*) url="${a#nbe2e.log=}" ;; esac; done
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  $B insmod "/lib/modules/$m.ko" || say "insmod-failed $m"
done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do $B sleep 0.1; i=$((i+1)); done
[ -e /sys/class/net/eth0 ] || { say "no-eth0"; finish; }
$B ip link set lo up; $B ip link set eth0 up
mac=$($B cat /sys/class/net/eth0/address)
$B udhcpc -i eth0 -s /udhcpc.sh -n -q -f -t 10 -T 1 -V nbe2e-linux >/dev/null 2>&1 || { say "dhcp-failed mac=$mac"; finish; }
ip=$($B ip -4 -o addr show eth0 | $B awk '{print $4}')
say "network-up mac=$mac ip=$ip"
if [ -n "$url" ]; then
  line="linux%20initramfs%20up%20ip%3D${ip%/*}"
  n=0
  while :; do
    n=$((n+1))
    # (busybox 1.35's wget segfaults with -T: bound it with the timeout applet instead)
    if answer=$($B timeout 15 $B wget -O /tmp/answer --post-data "mac=$mac&stage=e2e-linux&line=$line" "$url" 2>&1); then
      say "boot-log-posted attempt=$n answer=$($B cat /tmp/answer)"; break
    fi
    say "boot-log-failed attempt=$n url=$url: $(echo "$answer" | $B tr '\n' ' ')"
    [ $n -lt 5 ] || break
    $B sleep 1
  done
else
  say "no-log-url (no nbe2e.log= on the kernel command line)"
fi
# an installer's configuration document (talos.config=<url>, as netboot-ipxe writes it): fetch it like an
# installer, print its marker line; nbe2e.done=1 then reports completion to <folder>/done; nbe2e.steal=<url>
# tries another machine's document (the server must refuse it)
cfg=""; steal=""; report=""
for a in $($B cat /proc/cmdline); do case "$a" in talos.config=*) cfg="${a#talos.config=}" ;; nbe2e.steal=*) steal="${a#nbe2e.steal=}" ;; nbe2e.done=1) report=1 ;; esac; done
if [ -n "$cfg" ]; then
  if $B timeout 15 $B wget -q -O /tmp/config "$cfg" 2>/tmp/err; then say "config-fetched $($B grep -m1 'marker:' /tmp/config)"; else say "config-refused $($B tr '\n' ' ' </tmp/err)"; fi
  if [ -n "$report" ]; then
    if $B timeout 15 $B wget -q -O /tmp/done --post-data "from=e2e" "${cfg%/*}/done" 2>/tmp/err; then say "install-done $($B cat /tmp/done)"; else say "install-done-failed $($B tr '\n' ' ' </tmp/err)"; fi
  fi
fi
if [ -n "$steal" ]; then
  if $B timeout 15 $B wget -q -O /tmp/stolen "$steal" 2>/tmp/err; then say "steal-succeeded $($B head -c 200 /tmp/stolen | $B tr '\n' ' ')"; else say "steal-refused $($B tr '\n' ' ' </tmp/err)"; fi
fi
finish
SH
chmod +x "$root/init" "$root/udhcpc.sh"
(cd "$root" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9) >"$L/initrd.gz.tmp"
mv "$L/initrd.gz.tmp" "$L/initrd.gz"

# the registration initramfs: the same tree, another /init, and the real register.sh
rm -f "$root/init"
cp "$HERE/../../../boot-assets/registration/register.sh" "$root/register.sh"
cat >"$root/init" <<'SH'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
# our server's registration script puts no console= on the command line: write to the serial port itself
exec </dev/ttyS0 >/dev/ttyS0 2>&1
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
# register.sh is plain POSIX sh: give it busybox's applets (sh, awk, sed, tr, wget, ip, timeout, ...)
$B --install -s /bin
export PATH=/bin
say() { echo "NBE2E: $*"; }
finish() { say "poweroff ........................................"; sleep 1; poweroff -f; }
say "registration-linux-up kernel=$(uname -r)"
say "cmdline $(cat /proc/cmdline)"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  insmod "/lib/modules/$m.ko" || say "insmod-failed $m"
done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/class/net/eth0 ] || { say "no-eth0"; finish; }
ip link set lo up; ip link set eth0 up
mac=$(cat /sys/class/net/eth0/address)
udhcpc -i eth0 -s /udhcpc.sh -n -q -f -t 10 -T 1 -V nbe2e-register >/dev/null 2>&1 || { say "dhcp-failed mac=$mac"; finish; }
ip=$(ip -4 -o addr show eth0 | awk '{print $4}')
say "network-up mac=$mac ip=$ip"
say "register.sh sha256=$(sha256sum /register.sh | cut -d' ' -f1)"
# what the script collects, printed by the script itself (its NETBOOT_DRY_RUN mode), on one line
say "register-dry-run $(NETBOOT_DRY_RUN=1 sh /register.sh 2>/dev/null | tr -d '\n')"
# the real run: the script finds the server on the command line and POSTs the same JSON
sh /register.sh >/tmp/register.out 2>/tmp/register.err
rc=$?
# its stdout is the server's answer (wget -O -), its stderr its log
say "register.sh-answer $(tr -d '\n' </tmp/register.out)"
while IFS= read -r l || [ -n "$l" ]; do say "register.sh: $l"; done </tmp/register.err
say "register-done rc=$rc"
finish
SH
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9) >"$L/registration.img.tmp"
mv "$L/registration.img.tmp" "$L/registration.img"
rm -rf "$root"
echo "build-assets: $L/vmlinuz ($(stat -c %s "$L/vmlinuz") bytes, $(cat "$L/kernel-package" 2>/dev/null)), $L/initrd.gz ($(stat -c %s "$L/initrd.gz") bytes), $L/registration.img ($(stat -c %s "$L/registration.img") bytes)" >&2
