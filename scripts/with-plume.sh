#!/usr/bin/env bash
# with-plume.sh [--config FILE] [--websockets] -- COMMAND...: builds Plume,
# starts it on a free loopback port, runs COMMAND with
# PLUME_ADDR=127.0.0.1:PORT in its environment, stops Plume (SIGTERM, which
# must exit 0) and exits with COMMAND's status.
#
# --websockets adds ws and wss listeners on free ports, the wss ones with a
# certificate from a CA made here with openssl, one of them requiring a
# client certificate, and gives COMMAND their URLs and the PEM files:
# PLUME_WS_URL, PLUME_WSS_URL, PLUME_WSS_MTLS_URL, PLUME_CA_FILE,
# PLUME_CLIENT_CERT, PLUME_CLIENT_KEY. The listeners are appended to a copy of
# FILE, which must have none and no relative paths.
set -euo pipefail
cd "$(dirname "$0")/.."
config="" websockets=0
while [ $# -gt 0 ]; do
	case "$1" in
	--config) config="$2"; shift 2 ;;
	--websockets) websockets=1; shift ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--config FILE] [--websockets] -- COMMAND..." >&2; exit 2; }

work=$(mktemp -d)
go build -o "$work/plume" ./cmd/plume
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
args=(--listen "127.0.0.1:$port")
[ -n "$config" ] && args=(--config "$config" "${args[@]}")
if [ "$websockets" = 1 ]; then
	command -v openssl >/dev/null || { echo "with-plume.sh: --websockets needs openssl" >&2; exit 1; }
	if [ -n "$config" ] && grep -q '^listeners:' "$config"; then
		echo "with-plume.sh: --websockets appends listeners; $config has its own" >&2; exit 2
	fi
	c="$work/certs"
	mkdir "$c"
	# issue NAME CN USAGE SAN: a P-256 certificate signed by the CA.
	issue() {
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
			-keyout "$c/$1.key" -out "$c/$1.csr" 2>/dev/null
		printf 'extendedKeyUsage=%s\nsubjectAltName=%s\n' "$3" "$4" >"$c/$1.ext"
		openssl x509 -req -in "$c/$1.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
			-days 2 -extfile "$c/$1.ext" -out "$c/$1.pem" 2>/dev/null
	}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=plume test CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null
	issue server localhost serverAuth DNS:localhost,IP:127.0.0.1
	issue client interop-client clientAuth DNS:interop-client
	ws=$(free_port) wss=$(free_port) mtls=$(free_port)
	{
		[ -n "$config" ] && cat "$config"
		cat <<-EOF

		listeners:
		  - {name: default, type: tcp, address: "127.0.0.1:$port"}
		  - {name: ws, type: ws, address: "127.0.0.1:$ws", path: /mqtt}
		  - {name: wss, type: wss, address: "127.0.0.1:$wss", path: /mqtt, cert_file: $c/server.pem, key_file: $c/server.key}
		  - {name: wss-mtls, type: wss, address: "127.0.0.1:$mtls", path: /mqtt, cert_file: $c/server.pem, key_file: $c/server.key,
		     client_ca_file: $c/ca.pem, client_auth: require}
		EOF
	} >"$work/plume.yaml"
	args=(--config "$work/plume.yaml")
	export PLUME_WS_URL="ws://127.0.0.1:$ws/mqtt" PLUME_WSS_URL="wss://127.0.0.1:$wss/mqtt" \
		PLUME_WSS_MTLS_URL="wss://127.0.0.1:$mtls/mqtt" PLUME_CA_FILE="$c/ca.pem" \
		PLUME_CLIENT_CERT="$c/client.pem" PLUME_CLIENT_KEY="$c/client.key"
fi
"$work/plume" "${args[@]}" --log-level warn --log-format json 2>"$work/plume.log" &
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
