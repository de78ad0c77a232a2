#!/usr/bin/env bash
# qemu-boot.sh - network-boot one QEMU VM on the e2e lab's bridge and record its serial console.
#
# The VM gets a fresh tap in the client namespace (joined to br0), runs under TCG (the KVM on our CI
# machines cannot run Linux guests), and ends when it powers off or reboots (-no-reboot), when the
# --expect text shows up (with --stop-on-expect), or at --timeout.
#
# Usage: qemu-boot.sh --fw FW --serial FILE [options]
#   --fw bios       q35 + SeaBIOS + the e1000's iPXE option ROM (Debian ipxe-qemu): DHCP arch 0, user class iPXE
#   --fw uefi       q35 + OVMF, virtio-net without option ROM: EDK2's own PXE client (arch 7)
#   --fw uefi-http  same, with OVMF's PXE entries disabled: UEFI HTTP boot (HTTPClient, arch 16)
#   --fw uefi-sb    q35 (SMM) + OVMF's Secure Boot build with Microsoft's keys enrolled (OVMF_CODE_4M.secboot.fd +
#                   a copy of OVMF_VARS_4M.ms.fd): Secure Boot on, EDK2 PXE client (arch 7)
#   --fw arm64      aarch64 virt + AAVMF, virtio-net: EDK2 PXE client (arch 11)
#   --serial FILE   serial console log (required)
#   --mac MAC       NIC MAC (default 52:54:00:81:xx:xx, random)
#   --timeout SEC   hard limit (default 180); the VM is killed after it
#   --expect TEXT   TEXT must appear on the console (repeatable: all must appear)
#   --stop-on-expect  stop the VM as soon as every --expect text is there
#   --nic MODEL     bios only: e1000 (default) or virtio-net-pci (QEMU's efi-virtio.rom, iPXE as well; for
#                   guests whose kernel has no e1000 driver, like Debian's cloud kernel)
#   --pcap FILE     record the VM's own NIC traffic (QEMU filter-dump)
#   --mem MB        default 512
# Env: LAB (default nbe2e) -> namespace ${LAB}-cli; E2E_STATE for scratch files (default /tmp/${LAB}-state).
# Exit: 0 ok, 1 VM ended without an --expect text, 124 timeout, 2 setup error.
# Last stderr line: "qemu-boot: rc=N elapsed=S.Ss serial=FILE".
set -euo pipefail

FW=bios; SERIAL=""; MAC=""; TIMEOUT=180; EXPECTS=(); STOP=0; PCAP=""; MEM=512; NIC_OPT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fw) FW="$2"; shift 2 ;;
    --serial) SERIAL="$2"; shift 2 ;;
    --mac) MAC="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --expect) EXPECTS+=("$2"); shift 2 ;;
    --stop-on-expect) STOP=1; shift ;;
    --pcap) PCAP="$2"; shift 2 ;;
    --nic) NIC_OPT="$2"; shift 2 ;;
    --mem) MEM="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "qemu-boot: unknown option $1" >&2; exit 2 ;;
  esac
done
LAB="${LAB:-nbe2e}"; NS="${LAB}-cli"; STATE="${E2E_STATE:-/tmp/${LAB}-state}"
[ "$(id -u)" = 0 ] || { echo "qemu-boot: must run as root" >&2; exit 2; }
[ -n "$SERIAL" ] || { echo "qemu-boot: --serial FILE is required" >&2; exit 2; }
ip netns list | awk '{print $1}' | grep -qx "$NS" || { echo "qemu-boot: namespace $NS missing (lab.sh up)" >&2; exit 2; }
mkdir -p "$STATE"; : >"$SERIAL"
[ -n "$MAC" ] || MAC=$(printf '52:54:00:81:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)))
TAP="nbt$$"; TAP="${TAP:0:15}"
OUT="$STATE/qemu-$$.out"; PIDF="$STATE/qemu-$$.pid"; VARS=""; QPID=""

cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill "$QPID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
  fi
  ip -n "$NS" link del "$TAP" 2>/dev/null || true
  [ -z "$VARS" ] || rm -f "$VARS"
  rm -f "$OUT" "$PIDF"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

NIC=e1000; ROM=default
case "$FW" in
  bios)      QEMU=qemu-system-x86_64; NIC="${NIC_OPT:-e1000}"
             # network only; a failed boot "reboots" after 1 s, which -no-reboot turns into an exit
             args=(-machine q35 -boot "order=n,reboot-timeout=1000") ;;
  uefi|uefi-http)
             QEMU=qemu-system-x86_64; NIC=virtio-net-pci; ROM=none
             VARS="$STATE/ovmf-vars-$$.fd"; cp /usr/share/OVMF/OVMF_VARS_4M.fd "$VARS"
             args=(-machine q35
                   -drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
                   -drive "if=pflash,format=raw,unit=1,file=$VARS")
             # UEFI HTTP boot only: switch off OVMF's IPv4/IPv6 PXE boot options
             [ "$FW" = uefi ] || args+=(-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n
                                        -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n) ;;
  uefi-sb)   QEMU=qemu-system-x86_64; NIC=virtio-net-pci; ROM=none
             VARS="$STATE/ovmf-vars-$$.fd"; cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$VARS"
             # the secboot build writes its variables from SMM only (as real hardware does)
             args=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
                   -drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
                   -drive "if=pflash,format=raw,unit=1,file=$VARS") ;;
  arm64)     QEMU=qemu-system-aarch64; NIC=virtio-net-pci; ROM=none
             args=(-machine virt -cpu max -bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd) ;;
  *) echo "qemu-boot: --fw bios|uefi|uefi-sb|uefi-http|arm64" >&2; exit 2 ;;
esac
command -v "$QEMU" >/dev/null || { echo "qemu-boot: $QEMU is not installed" >&2; exit 2; }

dev="$NIC,netdev=n0,mac=$MAC,bootindex=1"
[ "$ROM" = none ] && dev="$dev,romfile="
# vnet_hdr=off: with it on, filter-dump writes virtio-net headers into the pcap
args+=(-accel tcg -m "$MEM" -smp 1 -nodefaults -nographic -monitor none -no-reboot
       -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vnet_hdr=off" -device "$dev"
       -chardev "file,id=s0,path=$SERIAL" -serial chardev:s0)
[ -z "$PCAP" ] || args+=(-object "filter-dump,id=d0,netdev=n0,file=$PCAP")

ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" link set "$TAP" master br0
ip -n "$NS" link set "$TAP" up

all_seen() { local t; for t in "${EXPECTS[@]}"; do grep -aqF -- "$t" "$SERIAL" || return 1; done; return 0; }

echo "qemu-boot: fw=$FW mac=$MAC tap=$TAP timeout=${TIMEOUT}s serial=$SERIAL" >&2
t0=$(date +%s.%N)
# timeout(1) bounds QEMU even if this script is killed hard; lab.sh down finds it through the PID file
ip netns exec "$NS" timeout -k 5 $((TIMEOUT + 30)) "$QEMU" "${args[@]}" </dev/null >"$OUT" 2>&1 &
QPID=$!; echo "$QPID" >"$PIDF"
rc=124; end=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt "$end" ]; do
  if [ "$STOP" = 1 ] && [ ${#EXPECTS[@]} -gt 0 ] && all_seen; then rc=0; break; fi
  if ! kill -0 "$QPID" 2>/dev/null; then wait "$QPID" 2>/dev/null || true; QPID=""; rc=0; break; fi
  sleep 0.25
done
if [ "$rc" = 0 ] && [ ${#EXPECTS[@]} -gt 0 ] && ! all_seen; then rc=1; fi
dt=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
for t in "${EXPECTS[@]}"; do
  if grep -aqF -- "$t" "$SERIAL"; then echo "qemu-boot: seen    '$t'" >&2; else echo "qemu-boot: MISSING '$t'" >&2; fi
done
[ "$rc" = 124 ] && echo "qemu-boot: timeout after ${TIMEOUT}s, VM killed" >&2
grep -av '^\s*$' "$OUT" 2>/dev/null | sed 's/^/qemu: /' >&2 || true
echo "qemu-boot: rc=$rc elapsed=${dt}s serial=$SERIAL" >&2
exit "$rc"
