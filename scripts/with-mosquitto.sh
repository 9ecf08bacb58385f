#!/usr/bin/env bash
# with-mosquitto.sh [CONFIG-LINE...] -- COMMAND...: starts Debian's Mosquitto
# on a free loopback port with allow_anonymous and the given config lines,
# runs COMMAND with MOSQUITTO_ADDR=127.0.0.1:PORT in its environment, stops
# Mosquitto and exits with COMMAND's status.
set -euo pipefail
cd "$(dirname "$0")/.."
conf=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do conf+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [CONFIG-LINE...] -- COMMAND..." >&2; exit 2; }
command -v mosquitto >/dev/null || { echo "mosquitto not installed (apt-get install -y mosquitto)" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{ echo "listener $port 127.0.0.1"; echo "allow_anonymous true"; printf '%s\n' "${conf[@]}"; } >"$work/mosquitto.conf"
chmod 755 "$work" # started as root, Mosquitto drops to its own user and must read this
chmod 644 "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/mosquitto.log" >&2; exit 1; }
	sleep 0.1
done
status=0
MOSQUITTO_ADDR="127.0.0.1:$port" "$@" || status=$?
exit "$status"
