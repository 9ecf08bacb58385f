#!/usr/bin/env bash
# conformance-transports.sh: the conformance suite against a Plume binary over
# TLS, WebSockets and WebSockets over TLS, one run each (TCP is
# `make conformance-plume`'s). It makes a throwaway CA and server certificate
# with openssl, serves conformance/plume.yaml plus a tls, a ws and a wss
# listener on free loopback ports, runs the suite once per URL, stops Plume
# (SIGTERM, which must exit 0) and fails if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT

ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=plume conformance CA" \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
	-days 2 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null

read -r tls ws wss < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
{
	cat conformance/plume.yaml
	cat <<EOF
listeners:
  - {name: tls, type: tls, address: "127.0.0.1:$tls", cert_file: server.pem, key_file: server.key}
  - {name: ws, type: ws, address: "127.0.0.1:$ws", path: /mqtt}
  - {name: wss, type: wss, address: "127.0.0.1:$wss", path: /mqtt, cert_file: server.pem, key_file: server.key}
EOF
} >"$work/plume.yaml"

go build -o "$work/plume" ./cmd/plume
"$work/plume" --config "$work/plume.yaml" --log-level warn --log-format json 2>"$work/plume.log" &
pid=$!
for port in "$tls" "$ws" "$wss"; do
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/plume.log" >&2; exit 1; }
		sleep 0.1
	done
done

status=0
for url in "tls://127.0.0.1:$tls" "ws://127.0.0.1:$ws/mqtt" "wss://127.0.0.1:$wss/mqtt"; do
	if ! go test -count=1 -v -run '^TestBroker$' ./conformance -broker "$url" -cafile "$work/ca.pem" \
		-sends-topic-aliases >"$work/out" 2>&1; then
		status=1
		grep -v '^ *--- \(PASS\|SKIP\)\|^=== \|conformancetest.go:[0-9]*: .*: no --' "$work/out" || true
	fi
	echo "conformance over $url: $(grep -c '^ *--- PASS' "$work/out") tests passed, $(grep -c '^ *--- SKIP' "$work/out") skipped, $(grep -c '^ *--- FAIL' "$work/out") failed"
done

kill -TERM "$pid"
if ! wait "$pid"; then
	echo "conformance-transports.sh: plume did not exit cleanly on SIGTERM" >&2
	cat "$work/plume.log" >&2
	status=1
fi
pid=
exit "$status"
