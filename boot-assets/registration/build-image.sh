#!/usr/bin/env bash
# build-image.sh - the registration image an unknown machine boots from the menu's "Register this device":
#
#   <assets>/registration/vmlinuz      the distribution's kernel (this host's, or Debian's cloud kernel)
#   <assets>/registration/initrd.img   a busybox initramfs with the kernel's network drivers and
#                                      register.sh; its /init brings the network up (udhcpc), runs
#                                      register.sh (it reads netboot_server= and netboot_mac= from the
#                                      command line the server writes and POSTs /api/v1/enroll), shows
#                                      the answer on the console, and powers the machine off.
#
# The same recipe as the e2e lab's registration image (test/e2e/lab/build-assets.sh), for real machines:
# the network drivers of common PC and virtual NICs instead of virtio only, and a console message
# instead of test markers.
#
# Usage: build-image.sh [assets folder]      (default: $NETBOOT_DATA_DIR/assets, else .netboot/assets of this clone)
#        npm run build:registration [-- <assets folder>]
# Env:   KERNEL=/boot/vmlinuz-<version>      the kernel to use (default: this host's running kernel, else the
#                                           newest in /boot), with its modules in /lib/modules/<version>
#        MODDIR=<folder>                    where its modules are (default /lib/modules/<version>)
# Needs: busybox-static (also its cpio), gzip, xz-utils (for compressed modules); run as a user who can read the kernel.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ASSETS="${1:-${NETBOOT_DATA_DIR:-$HERE/../../.netboot}/assets}"
OUT="$ASSETS/registration"
# this host's running kernel, or else the newest one installed (a container or a VM may run another)
if [ -z "${KERNEL:-}" ]; then
  KERNEL="/boot/vmlinuz-$(uname -r)"
  [ -e "$KERNEL" ] || KERNEL="$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -1)"
fi
MODDIR="${MODDIR:-/lib/modules/$(basename "$KERNEL" | sed 's/^vmlinuz-//')}"

fail() { echo "build-image: $*" >&2; exit 1; }
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || fail "cannot read the kernel $KERNEL (set KERNEL=/boot/vmlinuz-<version>, or run with sudo: kernels are often readable by root only)"
[ -x /bin/busybox ] || fail "busybox is missing: sudo apt install busybox-static"

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,etc,tmp,lib/modules} "$OUT"
cp /bin/busybox "$root/bin/busybox"
cp "$HERE/register.sh" "$root/register.sh"

# network drivers, in load order, when this kernel has them as modules; the DHCP event script
. "$HERE/../initramfs-lib.sh"
have="$(add_net_modules "$root" "$MODDIR")"
write_udhcpc "$root"
echo "build-image: kernel $KERNEL, $have network driver module(s) from ${MODDIR}" >&2

cat >"$root/init" <<'SH'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B --install -s /bin
export PATH=/bin
echo "netboot: registering this machine"
[ -f /lib/modules/order ] && while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done </lib/modules/order
sleep 1
ok=""
for n in $(ls /sys/class/net); do
  [ "$n" = lo ] && continue
  ip link set "$n" up
  if udhcpc -i "$n" -s /udhcpc.sh -n -q -f -t 5 -T 2 >/dev/null 2>&1; then ok="$n"; break; fi
done
[ -n "$ok" ] || echo "netboot: no network interface got an address; the machine is not registered"
[ -n "$ok" ] && { sh /register.sh && echo "netboot: registered. An administrator can now assign it a profile." || echo "netboot: registration failed (see above)"; }
echo "netboot: powering off in 30 s"
sleep 30
poweroff -f
SH
chmod +x "$root/init" "$root/udhcpc.sh" "$root/register.sh"
(cd "$root" && find . | /bin/busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9) >"$OUT/initrd.img.tmp"
cp "$KERNEL" "$OUT/vmlinuz.tmp"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
# which CPU the image runs on (busybox's): the server tells whether unknown Raspberry Pis can use it
/bin/busybox uname -m >"$OUT/arch"
echo "build-image: $OUT/vmlinuz ($(stat -c %s "$OUT/vmlinuz") bytes), $OUT/initrd.img ($(stat -c %s "$OUT/initrd.img") bytes)" >&2
