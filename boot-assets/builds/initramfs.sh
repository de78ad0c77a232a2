#!/usr/bin/env bash
# The `initramfs` build recipe: a machine's own busybox initramfs and a kernel, for a rescue image, a
# diskless appliance, or a test that a machine boots what was built for it.
#
#   $NETBOOT_OUTPUT_DIR/vmlinuz      the kernel (NETBOOT_PARAM_KERNEL, else this host's newest /boot/vmlinuz-*)
#   $NETBOOT_OUTPUT_DIR/initrd.img   busybox, the kernel's network drivers, and an /init that prints
#                                    "netboot-build: <hostname> runs build <id>" and the marker
#                                    (NETBOOT_PARAM_MARKER), brings the network up, checks in with the
#                                    server (NETBOOT_SERVER, when set) and powers off after
#                                    NETBOOT_PARAM_POWEROFF seconds (default 30; "never" keeps a shell)
#
# Values from the inventory (hostname, marker) are written to files inside the image, never into the
# script, so no value can change what /init runs. Needs: busybox-static (its cpio), gzip, xz-utils.
set -euo pipefail
: "${NETBOOT_OUTPUT_DIR:?}" "${NETBOOT_WORK_DIR:?}" "${NETBOOT_MAC:?}" "${NETBOOT_BUILD_ID:?}"
KERNEL="${NETBOOT_PARAM_KERNEL:-}"
[ -n "$KERNEL" ] || KERNEL="$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -1 || true)"
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || { echo "initramfs: no readable kernel (set params.kernel, or install a linux-image package)" >&2; exit 2; }
MODDIR="${NETBOOT_PARAM_MODDIR:-/lib/modules/$(basename "$KERNEL" | sed 's/^vmlinuz-//')}"
[ -x /bin/busybox ] || { echo "initramfs: busybox is missing: apt-get install busybox-static" >&2; exit 2; }

root="$NETBOOT_WORK_DIR/root"
mkdir -p "$root"/{bin,dev,proc,sys,etc/netboot,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
printf '%s' "${NETBOOT_HOSTNAME:-}" >"$root/etc/netboot/hostname"
printf '%s' "${NETBOOT_PARAM_MARKER:-}" >"$root/etc/netboot/marker"
printf '%s' "$NETBOOT_BUILD_ID" >"$root/etc/netboot/build"
printf '%s' "$NETBOOT_MAC" >"$root/etc/netboot/mac"
printf '%s' "${NETBOOT_PARAM_POWEROFF:-30}" >"$root/etc/netboot/poweroff"
printf '%s' "${NETBOOT_SERVER:-}" >"$root/etc/netboot/server"
. "$(dirname "$0")/../initramfs-lib.sh"
n="$(add_net_modules "$root" "$MODDIR")"
write_udhcpc "$root"
echo "initramfs: kernel $KERNEL, $n network driver module(s)"
cat >"$root/init" <<'SH'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B --install -s /bin
export PATH=/bin
echo "netboot-build: $(cat /etc/netboot/hostname) runs build $(cat /etc/netboot/build)"
echo "netboot-build: marker $(cat /etc/netboot/marker)"
[ -f /lib/modules/order ] && while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done </lib/modules/order
for n in $(ls /sys/class/net); do
  [ "$n" = lo ] && continue
  ip link set "$n" up
  if udhcpc -i "$n" -s /udhcpc.sh -n -q -f -t 5 -T 2 >/dev/null 2>&1; then
    echo "netboot-build: network up on $n"
    s="$(cat /etc/netboot/server)"
    [ -n "$s" ] && timeout 10 wget -q -O - "$s/api/v1/boot/check-in?mac=$(cat /etc/netboot/mac)&action=ready" >/dev/null 2>&1 && echo "netboot-build: checked in"
    break
  fi
done
t="$(cat /etc/netboot/poweroff)"
[ "$t" = never ] && exec sh
echo "netboot-build: powering off in $t s"
sleep "$t"
poweroff -f
SH
chmod +x "$root/init" "$root/udhcpc.sh"
(cd "$root" && find . | /bin/busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9) >"$NETBOOT_OUTPUT_DIR/initrd.img"
cp "$KERNEL" "$NETBOOT_OUTPUT_DIR/vmlinuz"
echo "initramfs: $(stat -c %s "$NETBOOT_OUTPUT_DIR/initrd.img") bytes"
