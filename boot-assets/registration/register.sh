#!/bin/sh
# netboot registration script: collects a machine's hardware inventory on any live Linux and
# POSTs it as JSON to $NETBOOT_SERVER/api/v1/enroll.
#
#   NETBOOT_SERVER   base URL of the boot server, e.g. http://10.0.0.2:1880
#                    (default: netboot_server= on the kernel command line)
#   NETBOOT_MAC      MAC of the boot NIC (default: netboot_mac= on the kernel command line,
#                    else the interface of the default route, else the first non-loopback NIC)
#   NETBOOT_DRY_RUN  if set to 1, print the JSON instead of sending it
#
# POSIX sh only. Every value collected from the machine goes through json_str (escaped) or is
# checked to be JSON produced by the tool itself (lsblk -J, ip -j, lscpu -J); nothing is eval'd.
set -u

log() { printf 'netboot-register: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

cmdline_arg() {
	# prints the value of key=value from /proc/cmdline (first match)
	[ -r /proc/cmdline ] || return 0
	tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | head -n 1
}

json_str() {
	# prints "$1" as a JSON string literal: backslash, quote, tab, CR and newline escaped, other
	# control characters dropped. Character by character, so no awk gsub escaping differences.
	printf '%s' "$1" | awk '
		BEGIN {
			ORS = ""; printf "\""
			for (i = 1; i < 32; i++) ctrl = ctrl sprintf("%c", i)
			ctrl = ctrl sprintf("%c", 127)
		}
		{
			if (NR > 1) printf "\\n"
			n = length($0); out = ""
			for (i = 1; i <= n; i++) {
				c = substr($0, i, 1)
				if (c == "\\") out = out "\\\\"
				else if (c == "\"") out = out "\\\""
				else if (c == "\t") out = out "\\t"
				else if (c == "\r") out = out "\\r"
				else if (index(ctrl, c) > 0) continue
				else out = out c
			}
			print out
		}
		END { printf "\"" }'
}

json_or_null() {
	# prints $1 if it looks like a JSON object/array made by a tool, else null
	case "$(printf '%s' "$1" | tr -d ' \t\n\r' | cut -c1)" in
		'{' | '[') printf '%s' "$1" ;;
		*) printf 'null' ;;
	esac
}

read_file() { [ -r "$1" ] && tr -d '\000' <"$1" | head -c 256 | sed 's/[[:space:]]*$//'; }

dmi() {
	# dmi <dmidecode keyword> <sysfs file>
	v=""
	if have dmidecode; then v=$(dmidecode -s "$1" 2>/dev/null | grep -v '^#' | head -n 1); fi
	if [ -z "$v" ]; then v=$(read_file "/sys/class/dmi/id/$2"); fi
	case "$v" in
		'To Be Filled By O.E.M.' | 'Default string' | 'Not Specified' | 'System Serial Number' | 'None') v="" ;;
	esac
	printf '%s' "$v"
}

SERVER=${NETBOOT_SERVER:-$(cmdline_arg netboot_server)}
if [ -z "$SERVER" ] && [ "${NETBOOT_DRY_RUN:-0}" != 1 ]; then
	log "set NETBOOT_SERVER (or netboot_server= on the kernel command line)"
	exit 2
fi
case "$SERVER" in
	'' | http://* | https://*) ;;
	*) log "NETBOOT_SERVER must start with http:// or https://"; exit 2 ;;
esac
SERVER=${SERVER%/}

MAC=${NETBOOT_MAC:-$(cmdline_arg netboot_mac)}
if [ -z "$MAC" ] && have ip; then
	dev=$(ip route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
	[ -n "$dev" ] && MAC=$(read_file "/sys/class/net/$dev/address")
fi
if [ -z "$MAC" ]; then
	for n in /sys/class/net/*; do
		[ "${n##*/}" = lo ] && continue
		MAC=$(read_file "$n/address") && [ -n "$MAC" ] && break
	done
fi
MAC=$(printf '%s' "$MAC" | tr 'A-F' 'a-f' | tr '-' ':')

manufacturer=$(dmi system-manufacturer sys_vendor)
model=$(dmi system-product-name product_name)
serial=$(dmi system-serial-number product_serial)
uuid=$(dmi system-uuid product_uuid | tr 'A-F' 'a-f')
# Raspberry Pi and other device-tree machines
if [ -z "$model" ] && [ -r /proc/device-tree/model ]; then model=$(read_file /proc/device-tree/model); fi
pi_serial=""
if [ -r /proc/device-tree/serial-number ]; then pi_serial=$(read_file /proc/device-tree/serial-number); fi
if [ -z "$pi_serial" ] && [ -r /proc/cpuinfo ]; then pi_serial=$(sed -n 's/^Serial[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1); fi
[ -z "$serial" ] && serial=$pi_serial
service_tag=$serial

cpu="null"
if have lscpu; then
	cpu=$(json_or_null "$(lscpu -J 2>/dev/null)")
	[ "$cpu" = null ] && cpu="{\"lscpu\":$(json_str "$(lscpu 2>/dev/null)")}"
fi
mem_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB$/\1/p' /proc/meminfo 2>/dev/null)
case "$mem_kb" in '' | *[!0-9]*) mem_kb=null ;; esac
disks="null"
have lsblk && disks=$(json_or_null "$(lsblk -J -b -o NAME,SIZE,TYPE,MODEL,SERIAL,ROTA,TRAN 2>/dev/null || lsblk -J 2>/dev/null)")
nics="null"
have ip && nics=$(json_or_null "$(ip -j link 2>/dev/null)")
pci="null"
have lspci && pci=$(json_str "$(lspci -nn 2>/dev/null)")

make_body() {
	cat <<EOF
{"mac_address":$(json_str "$MAC"),"service_tag":$(json_str "$service_tag"),"hardware":{"manufacturer":$(json_str "$manufacturer"),"model":$(json_str "$model"),"serial":$(json_str "$serial"),"uuid":$(json_str "$uuid"),"pi_serial":$(json_str "$pi_serial"),"cpu":$cpu,"memory":{"total_kb":$mem_kb},"disks":$disks,"nics":$nics,"pci":$pci}}
EOF
}
# the server takes at most 64 KiB (docs/security.md): on a large machine the long lists go first
body=$(make_body)
for part in pci nics cpu disks; do
	[ "$(printf '%s' "$body" | wc -c)" -le 65000 ] && break
	log "inventory too large for the server's 64 KiB limit: leaving out $part"
	eval "$part=null"
	body=$(make_body)
done

if [ "${NETBOOT_DRY_RUN:-0}" = 1 ]; then
	printf '%s\n' "$body"
	exit 0
fi

tmp=$(mktemp 2>/dev/null || echo "/tmp/netboot-register.$$")
trap 'rm -f "$tmp"' EXIT INT TERM
printf '%s\n' "$body" >"$tmp"
url="$SERVER/api/v1/enroll"

# wget's 30 s timeout: -T where this wget has it (GNU wget, busybox built with it); busybox 1.35 as
# Debian 12 ships it lists no -T and dies with a segfault when given one, so bound it with timeout(1).
wget_bounded() {
	if wget --help 2>&1 | grep -q -e '--timeout' -e '-T SEC'; then
		wget -T 30 "$@"
	elif have timeout; then
		timeout 30 wget "$@"
	else
		wget "$@"
	fi
}

attempt=1
while [ "$attempt" -le 5 ]; do
	if have curl; then
		curl -fsS -m 30 -H 'Content-Type: application/json' --data-binary "@$tmp" "$url" && { log "registered $MAC"; exit 0; }
	elif have wget; then
		wget_bounded -q -O - --header='Content-Type: application/json' --post-file="$tmp" "$url" && { log "registered $MAC"; exit 0; }
	else
		log "neither curl nor wget is available"
		exit 3
	fi
	log "attempt $attempt failed, retrying"
	attempt=$((attempt + 1))
	sleep 5
done
log "could not reach $url"
exit 1
