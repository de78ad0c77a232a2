#!/usr/bin/env bash
# The `debian` build recipe: a minimal Debian root built from the distribution's archive with
# mmdebstrap, packed as an initramfs that runs it from RAM, with a Debian kernel.
#
#   $NETBOOT_OUTPUT_DIR/vmlinuz      NETBOOT_PARAM_KERNEL, else this host's newest /boot/vmlinuz-*
#   $NETBOOT_OUTPUT_DIR/initrd.img   the root file system (cpio, gzip); its /init mounts /proc, /sys, /dev,
#                                    prints "netboot-build: Debian <version> on <hostname>, build <id>" and the
#                                    marker, and runs /sbin/init (or a shell when there is none)
#
# Params: suite (default bookworm), mirror (default the system's apt sources), variant (default
# essential: the smallest root), include (comma-separated extra packages). Needs: mmdebstrap, and a
# mirror it can reach; runs as root or in mmdebstrap's unshare mode.
set -euo pipefail
: "${NETBOOT_OUTPUT_DIR:?}" "${NETBOOT_WORK_DIR:?}" "${NETBOOT_BUILD_ID:?}"
command -v mmdebstrap >/dev/null || { echo "debian: mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 2; }
KERNEL="${NETBOOT_PARAM_KERNEL:-}"
[ -n "$KERNEL" ] || KERNEL="$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -1 || true)"
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || { echo "debian: no readable kernel (set params.kernel, or install a linux-image package)" >&2; exit 2; }
suite="${NETBOOT_PARAM_SUITE:-bookworm}"
variant="${NETBOOT_PARAM_VARIANT:-essential}"
root="$NETBOOT_WORK_DIR/rootfs"
args=(--variant="$variant" --mode=auto --skip=check/empty)
[ -n "${NETBOOT_PARAM_INCLUDE:-}" ] && args+=(--include="$NETBOOT_PARAM_INCLUDE")
mirror=()
[ -n "${NETBOOT_PARAM_MIRROR:-}" ] && mirror=("$NETBOOT_PARAM_MIRROR")
mmdebstrap "${args[@]}" "$suite" "$root" "${mirror[@]}"
mkdir -p "$root/etc/netboot"
printf '%s' "${NETBOOT_HOSTNAME:-debian}" >"$root/etc/hostname"
printf '%s' "${NETBOOT_HOSTNAME:-debian}" >"$root/etc/netboot/hostname"
printf '%s' "${NETBOOT_PARAM_MARKER:-}" >"$root/etc/netboot/marker"
printf '%s' "$NETBOOT_BUILD_ID" >"$root/etc/netboot/build"
cat >"$root/init" <<'SH'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "netboot-build: Debian $(cat /etc/debian_version) on $(cat /etc/netboot/hostname), build $(cat /etc/netboot/build)"
echo "netboot-build: marker $(cat /etc/netboot/marker)"
[ -x /sbin/init ] && exec /sbin/init
exec /bin/sh
SH
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) >"$NETBOOT_OUTPUT_DIR/initrd.img"
cp "$KERNEL" "$NETBOOT_OUTPUT_DIR/vmlinuz"
echo "debian: $(cat "$root/etc/debian_version"), $(stat -c %s "$NETBOOT_OUTPUT_DIR/initrd.img") bytes"
