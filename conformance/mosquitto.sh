#!/usr/bin/env bash
# Runs the conformance suite and the interop matrix against Debian's
# Mosquitto 2.0, which it starts on free loopback ports and stops again.
# Mosquitto's known deviations (testdata/mosquitto-2.0.expect-fail, evidence
# in README.md) are expected to fail; anything else failing fails the script.
#
#   conformance/mosquitto.sh [--json FILE] [--no-interop]
#
# With --json, the main run's results go to FILE and those of the restricted
# Mosquitto (max_qos 1, retain_available false, max_keepalive 10) and of the strict one (client
# id prefix and password file) to FILE less .json plus .restricted.json and
# .strict.json.
# Needs: apt-get install -y mosquitto mosquitto-clients; node and npm for the
# MQTT.js part of the interop matrix.
set -euo pipefail
cd "$(dirname "$0")/.."

json="" interop=1
while [ $# -gt 0 ]; do
	case "$1" in
	--json) json="$2"; shift 2 ;;
	--no-interop) interop=0; shift ;;
	*) echo "usage: $0 [--json FILE] [--no-interop]" >&2; exit 2 ;;
	esac
done

command -v mosquitto >/dev/null || { echo "mosquitto not installed (apt-get install -y mosquitto mosquitto-clients)" >&2; exit 1; }
MOSQUITTO=$(command -v mosquitto)

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	local p
	for p in $(seq "$1" $(($1 + 200))); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "no free port from $1" >&2; exit 1
}

# start NAME PORT [config lines...]: a Mosquitto on 127.0.0.1:PORT.
start() {
	local name=$1 port=$2; shift 2
	{ echo "listener $port 127.0.0.1"; echo "allow_anonymous true"; printf '%s\n' "$@"; } >"$work/$name.conf"
	"$MOSQUITTO" -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "mosquitto ($name) did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}

port=$(free_port 28900)
start plain "$port"
restricted=$(free_port $((port + 1)))
start restricted "$restricted" "max_qos 1" "retain_available false" "max_keepalive 10"

# A Mosquitto that refuses client ids not starting with "ok" and knows one
# user, for the statements about refused CONNECTs.
strict=$(free_port $((restricted + 1)))
mosquitto_passwd -b -c "$work/passwd" cfuser cfpassword
chmod 755 "$work" # started as root, Mosquitto drops to its own user and must read this
chmod 644 "$work/passwd"
start strict "$strict" "clientid_prefixes ok" "password_file $work/passwd"

go build -o "$work/conformance" ./conformance/cmd/conformance
status=0
args=(--broker "tcp://127.0.0.1:$port" --denied-topic '$SYS/cf' --expect-fail conformance/testdata/mosquitto-2.0.expect-fail)
[ -n "$json" ] && args+=(--json "$json")
"$work/conformance" "${args[@]}" || status=1
# The statements about brokers without QoS 2 or retained messages, on a
# Mosquitto configured that way.
rargs=(--broker "tcp://127.0.0.1:$restricted" --version 5 --only 'MQTT-3\.2\.2-1[23]$|^KeepAliveEnforced$' --server-keep-alive 10
	--expect-fail conformance/testdata/mosquitto-2.0.expect-fail)
[ -n "$json" ] && rargs+=(--json "${json%.json}.restricted.json")
"$work/conformance" "${rargs[@]}" || status=1
sargs=(--broker "tcp://127.0.0.1:$strict" --only '^(RefusedClientIDClosed|RefusedCredentialsClosed)$'
	--refused-client-id refused-id --refused-username cfuser --expect-fail conformance/testdata/mosquitto-2.0.expect-fail)
[ -n "$json" ] && sargs+=(--json "${json%.json}.strict.json")
"$work/conformance" "${sargs[@]}" || status=1
if [ "$interop" = 1 ]; then
	go test -count=1 ./conformance/interop -broker "tcp://127.0.0.1:$port" || status=1
fi
exit $status
