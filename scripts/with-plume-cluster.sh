#!/usr/bin/env bash
# with-plume-cluster.sh [--config FILE] [--node N] -- COMMAND...: builds
# Plume, starts a 3-node cluster of real `plume` processes (each embedding
# a NATS server, JetStream R3) on free loopback ports, waits until every node
# logged "cluster joined" seeing all three up and serves MQTT, runs COMMAND
# with PLUME_ADDR=127.0.0.1:PORT of node N (default 2: a node that is neither
# the first started nor the last), stops the nodes (SIGTERM, each must exit
# 0) and exits with COMMAND's status. COMMAND also gets PLUME_CLUSTER_ADDRS,
# the three MQTT addresses separated by spaces.
#
# FILE (optional) is prepended to each node's generated config: it must have
# no listeners:, http: or cluster: section.
set -euo pipefail
cd "$(dirname "$0")/.."
config="" which=2
while [ $# -gt 0 ]; do
	case "$1" in
	--config) config="$2"; shift 2 ;;
	--node) which="$2"; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--config FILE] [--node N] -- COMMAND..." >&2; exit 2; }
if [ -n "$config" ] && grep -Eq '^(listeners|http|cluster):' "$config"; then
	echo "with-plume-cluster.sh: $config has its own listeners/http/cluster section" >&2; exit 2
fi

work=$(mktemp -d)
go build -o "$work/plume" ./cmd/plume
# 12 ports reserved at once (all bound until printed), so no two are equal.
mapfile -t ports < <(python3 -c '
import socket
ss=[socket.socket() for _ in range(12)]
for s in ss: s.bind(("127.0.0.1",0))
for s in ss: print(s.getsockname()[1])
for s in ss: s.close()')
routes=""
for i in 0 1 2; do routes="$routes${routes:+, }127.0.0.1:${ports[4*i+1]}"; done
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
addrs=()
for i in 0 1 2; do
	n=$((i + 1))
	mqtt=127.0.0.1:${ports[4*i]}
	addrs+=("$mqtt")
	{
		[ -n "$config" ] && cat "$config"
		cat <<-EOF

		sys_interval: -1s
		listeners:
		  - address: $mqtt
		http:
		  address: 127.0.0.1:${ports[4*i+3]}
		cluster:
		  name: plume-conformance
		  node: n$n
		  listen: 127.0.0.1:${ports[4*i+1]}
		  client_listen: 127.0.0.1:${ports[4*i+2]}
		  peers: [$routes]
		  start_timeout: 120s
		EOF
	} >"$work/n$n.yaml"
	"$work/plume" --config "$work/n$n.yaml" --data-dir "$work/n$n" --log-format json 2>"$work/n$n.log" &
	pids+=($!)
done
# Formed: each node logged "cluster joined" naming all three up, or a later
# "node up" line did, and "listening" (its MQTT listener is bound after it
# joined). Polled: the logs are files.
formed() {
	local log=$1
	grep -q '"message":"listening"' "$log" || return 1
	grep -E '"message":"(cluster joined|cluster: node up)"' "$log" | tail -1 | grep -q '"members_up":\["n1","n2","n3"\]'
}
for _ in $(seq 1200); do
	all=1
	for i in 0 1 2; do
		kill -0 "${pids[i]}" 2>/dev/null || { echo "with-plume-cluster.sh: n$((i + 1)) exited" >&2; tail -20 "$work/n$((i + 1)).log" >&2; exit 1; }
		formed "$work/n$((i + 1)).log" || all=0
	done
	[ "$all" = 1 ] && break
	sleep 0.1
done
if [ "$all" != 1 ]; then
	echo "with-plume-cluster.sh: the cluster did not form within 120 s" >&2
	for n in 1 2 3; do echo "--- n$n" >&2; tail -10 "$work/n$n.log" >&2; done
	exit 1
fi
status=0
PLUME_ADDR="${addrs[which-1]}" PLUME_CLUSTER_ADDRS="${addrs[*]}" "$@" || status=$?
for p in "${pids[@]}"; do kill -TERM "$p"; done
for i in 0 1 2; do
	if ! wait "${pids[i]}"; then
		echo "with-plume-cluster.sh: n$((i + 1)) did not exit cleanly on SIGTERM" >&2
		tail -20 "$work/n$((i + 1)).log" >&2
		status=1
	fi
done
pids=()
exit "$status"
