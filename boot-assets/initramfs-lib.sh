# Shared by the initramfs images netboot builds (registration/build-image.sh, builds/initramfs.sh):
# source it, then call the functions. Needs busybox-static, xz-utils or zstd for compressed modules.

# Network drivers, in load order (dependencies first): the common PC and virtual NICs.
NETBOOT_NET_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net
  mii e1000 e1000e igb igc ixgbe libphy realtek r8169 tg3 bnx2 atl1c alx)

# add_net_modules ROOT MODDIR: copies the modules this kernel has (uncompressed) into ROOT/lib/modules,
# their load order into ROOT/lib/modules/order; prints how many it found.
add_net_modules() {
  local root="$1" moddir="$2" m f n=0
  mkdir -p "$root/lib/modules"
  if [ -d "$moddir" ]; then
    for m in "${NETBOOT_NET_MODULES[@]}"; do
      f="$(find "$moddir" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) 2>/dev/null | head -1)"
      [ -n "$f" ] || continue
      case "$f" in
        *.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *.zst) zstd -dqc "$f" >"$root/lib/modules/$m.ko" ;;
        *) cp "$f" "$root/lib/modules/$m.ko" ;;
      esac
      echo "$m" >>"$root/lib/modules/order"
      n=$((n + 1))
    done
  fi
  echo "$n"
}

# write_udhcpc ROOT: udhcpc's event script (address and default route, nothing else) as ROOT/udhcpc.sh.
write_udhcpc() {
  cat >"$1/udhcpc.sh" <<'SH'
#!/bin/busybox sh
case "$1" in
  bound|renew)
    /bin/busybox ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    [ -n "$router" ] && /bin/busybox route add default gw "${router%% *}" dev "$interface" 2>/dev/null
    ;;
esac
exit 0
SH
  chmod +x "$1/udhcpc.sh"
}
