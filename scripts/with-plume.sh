#!/usr/bin/env bash
# with-plume.sh [--config FILE] -- COMMAND...: builds Plume, starts it on a free
# loopback port, runs COMMAND with PLUME_ADDR=127.0.0.1:PORT in its
# environment, stops Plume (SIGTERM, which must exit 0) and exits with
# COMMAND's status.
set -euo pipefail
cd "$(dirname "$0")/.."
config=()
if [ "${1:-}" = "--config" ]; then config=(--config "$2"); shift 2; fi
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [--config FILE] -- COMMAND..." >&2; exit 2; }

work=$(mktemp -d)
go build -o "$work/plume" ./cmd/plume
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/plume" "${config[@]}" --listen "127.0.0.1:$port" --log-level warn --log-format json 2>"$work/plume.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/plume.log" >&2; exit 1; }
	sleep 0.1
done
status=0
PLUME_ADDR="127.0.0.1:$port" "$@" || status=$?
kill -TERM "$pid"
if ! wait "$pid"; then
	echo "with-plume.sh: plume did not exit cleanly on SIGTERM" >&2
	cat "$work/plume.log" >&2
	status=1
fi
trap 'rm -rf "$work"' EXIT
exit "$status"
