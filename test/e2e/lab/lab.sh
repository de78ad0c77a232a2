#!/usr/bin/env bash
# lab.sh - the e2e boot lab: three network namespaces joined by one bridge, nothing routed outside.
#
#   ${LAB}-srv  our boot server     eth0 = ${NET}.1/24  (npm start runs here, binds 67/68/69/4011/HTTP)
#   ${LAB}-rtr  the "home router"   eth0 = ${NET}.3/24  busybox udhcpd (addresses only, no PXE options)
#                                                        + dnsmasq in RA-only mode (IPv6 router adverts)
#   ${LAB}-cli  the switch          br0  = ${NET}.2/24  QEMU taps join br0 (see qemu-boot.sh)
#
# Usage (root): lab.sh up | down | status | exec srv|rtr|cli CMD...
# Env: LAB (default nbe2e), NET (first three octets, default 10.81.0), E2E_STATE (pid/log folder,
#      default /tmp/${LAB}-state), ROUTER=0 to skip udhcpd, RA=0 to skip the RA daemon,
#      SRV_ROUTE=0 to leave the server namespace without a default route.
#
# Why the RA daemon: Debian's iPXE build sends IPv6 router solicitations and, when nobody answers,
# waits ~16 s in "Configuring (net0 ...)" at every iPXE DHCP stage. One router advertisement on the
# LAN removes that wait (BIOS boot to script: ~19 s without, ~6 s with).
#
# "down" stops only processes whose PIDs were recorded in $E2E_STATE/*.pid (the daemons "up" started,
# and what the test run records there: server, captures, VMs), and only while they still run inside
# this lab's namespaces; then it deletes the namespaces. Anything else still inside is reported, not killed.
set -euo pipefail

LAB="${LAB:-nbe2e}"
NET="${NET:-10.81.0}"
STATE="${E2E_STATE:-/tmp/${LAB}-state}"
SRV="${LAB}-srv"; RTR="${LAB}-rtr"; CLI="${LAB}-cli"

die() { echo "lab: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
[[ "$NET" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "NET must look like 10.81.0"
has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

start_bg() { # name ns cmd... : start a daemon in a namespace, remember its PID
  local name="$1" ns="$2"; shift 2
  ip netns exec "$ns" "$@" </dev/null >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

stop_pidfile() { # file : stop the process whose PID we recorded, if it still runs in one of our namespaces
  local f="$1" pid where
  [ -s "$f" ] || { rm -f "$f"; return 0; }
  pid="$(cat "$f")"; rm -f "$f"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # a PID file can outlive its process; only touch it if it still lives in this lab (no PID reuse accidents)
  where="$(ip netns identify "$pid" 2>/dev/null | head -1 || true)"
  [ -n "$where" ] || return 0
  case " $SRV $RTR $CLI " in *" $where "*) ;; *) return 0 ;; esac
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

up() {
  for ns in "$SRV" "$RTR" "$CLI"; do has_ns "$ns" && die "namespace $ns exists already (run: $0 down)"; done
  mkdir -p "$STATE"
  ip netns add "$SRV"; ip netns add "$RTR"; ip netns add "$CLI"
  # the switch: a bridge without STP delay or multicast snooping
  ip -n "$CLI" link add br0 type bridge forward_delay 0 stp_state 0
  ip -n "$CLI" link set br0 type bridge mcast_snooping 0
  ip link add eth0 netns "$SRV" type veth peer name to-srv netns "$CLI"
  ip link add eth0 netns "$RTR" type veth peer name to-rtr netns "$CLI"
  for p in to-srv to-rtr; do ip -n "$CLI" link set "$p" master br0; ip -n "$CLI" link set "$p" up; done
  ip -n "$SRV" addr add "$NET.1/24" dev eth0
  ip -n "$RTR" addr add "$NET.3/24" dev eth0
  ip -n "$CLI" addr add "$NET.2/24" dev br0
  for ns in "$SRV" "$RTR" "$CLI"; do ip -n "$ns" link set lo up; done
  ip -n "$SRV" link set eth0 up; ip -n "$RTR" link set eth0 up; ip -n "$CLI" link set br0 up
  # Like a server on a home LAN, ours has a default route via the router. It matters: Node's UDP
  # socket sends 255.255.255.255 through the routing table, and with no route at all every DHCP
  # broadcast fails with ENETUNREACH (SRV_ROUTE=0 reproduces that). The router namespace does not
  # forward, so nothing leaves the lab.
  [ "${SRV_ROUTE:-1}" = 0 ] || ip -n "$SRV" route add default via "$NET.3" dev eth0

  if [ "${ROUTER:-1}" = 1 ]; then
    cat >"$STATE/udhcpd.conf" <<CONF
start $NET.100
end $NET.199
interface eth0
max_leases 100
lease_file $STATE/udhcpd.leases
option subnet 255.255.255.0
option lease 600
CONF
    : >"$STATE/udhcpd.leases"
    start_bg udhcpd "$RTR" busybox udhcpd -f "$STATE/udhcpd.conf"
  fi
  if [ "${RA:-1}" = 1 ]; then
    local p6="fd${NET//./:}"          # 10.81.0 -> fd10:81:0::/64
    ip -n "$RTR" addr add "${p6}::3/64" dev eth0 nodad
    start_bg ra "$RTR" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=eth0 \
      --bind-interfaces --enable-ra "--dhcp-range=::,constructor:eth0,ra-only,64" --user=root --pid-file=
  fi
  sleep 0.3
  for d in udhcpd ra; do
    [ -s "$STATE/$d.pid" ] || continue
    kill -0 "$(cat "$STATE/$d.pid")" 2>/dev/null || { cat "$STATE/$d.log" >&2; down; die "$d did not start"; }
  done
  echo "lab $LAB up: $SRV=$NET.1 $RTR=$NET.3 (udhcpd .100-.199) $CLI=$NET.2 (br0); state in $STATE"
}

down() {
  # our daemons, and whatever the test run recorded there (server, captures, VMs) if a killed run left it
  local f
  for f in "$STATE"/*.pid; do if [ -e "$f" ]; then stop_pidfile "$f"; fi; done
  for ns in "$SRV" "$RTR" "$CLI"; do
    has_ns "$ns" || continue
    local left; left="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    [ -z "$left" ] || echo "lab: processes still in $ns (not ours to kill): $left" >&2
    ip netns del "$ns"
  done
  echo "lab $LAB down"
}

status() {
  for ns in "$SRV" "$RTR" "$CLI"; do
    has_ns "$ns" || { echo "$ns: absent"; continue; }
    echo "== $ns  pids: $(ip netns pids "$ns" | tr '\n' ' ')"; ip -n "$ns" -br addr
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  exec)
    shift; case "${1:-}" in srv) ns=$SRV ;; rtr) ns=$RTR ;; cli) ns=$CLI ;; *) die "exec srv|rtr|cli CMD..." ;; esac
    shift; exec ip netns exec "$ns" "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
