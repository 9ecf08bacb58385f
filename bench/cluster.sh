#!/usr/bin/env bash
# cluster.sh runs the 3-node cluster benchmark (issue 14, decision 0058):
# three real `plume` processes with embedded NATS (JetStream on, sync
# "always", replicas 3) on loopback, against single-node Plume in the same
# run, with the same load generator as compare.sh. `make bench-cluster` runs
# it; see bench/README.md, "The cluster benchmark".
#
# Scenarios (both at QoS 0 and QoS 1, clean sessions):
#   pairs, pairs-q1   8 publishers on n1 → 8 subscribers on n2, a topic each
#   fanin-q0, fanin   8 publishers spread over n1, n2, n3 → 1 subscriber on n2
#                     (bench/in/+): 5 of the 8 cross a node
# Every figure is also printed as a ratio of single-node Plume's in the same
# round; rounds interleave single and cluster runs, so a burst of other load
# lands on both. The machine's load average is recorded with each run.
#
# Environment:
#   BENCH_DURATION      measured window (10s)
#   BENCH_WARMUP        publishing before the window (2s)
#   BENCH_ROUNDS        rounds; the report shows each round and the medians (3)
#   BENCH_SCENARIOS     subset of "pairs pairs-q1 fanin-q0 fanin"
#   BENCH_OUTSTANDING   max messages in flight end to end, per publisher (1000)
#   BENCH_INFLIGHT      max unacknowledged QoS 1 publishes per publisher (64):
#                       how many messages a publisher node's Commit can gather
#   BENCH_CLUSTER_PORT  first loopback port tried (29830)
#   BENCH_CLUSTER_SYNC  the nodes' cluster.sync: always (default) or a period
#                       such as 100ms, to see what fsync per write costs
#   PLUME_BIN           measure this plume binary, build nothing of Plume
#   BENCH_PLUME_LABEL   what the report calls the plume measured (HEAD's commit,
#                       or PLUME_BIN's path)
#   BENCH_RESULTS       JSON report (bench/results/cluster.json; the table in .txt)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BIN=$BENCH_DIR/bin
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-3}
SCENARIOS=${BENCH_SCENARIOS:-pairs pairs-q1 fanin-q0 fanin}
OUTSTANDING=${BENCH_OUTSTANDING:-1000}
INFLIGHT=${BENCH_INFLIGHT:-64}
PORT=${BENCH_CLUSTER_PORT:-29830}
SYNC=${BENCH_CLUSTER_SYNC:-always}
PLUME=${PLUME_BIN:-$BIN/plume}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results/cluster.json}

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/plume-cluster-bench.XXXXXX")
mkdir -p "$BIN" "$(dirname "$RESULTS")"
PIDS=()

log() { printf '== %s\n' "$*" >&2; }

# stop_all sends SIGTERM to every broker process, waits up to 10 s, then kill -9.
stop_all() {
	[ ${#PIDS[@]} -eq 0 ] && return 0
	kill "${PIDS[@]}" 2>/dev/null
	for _ in $(seq 100); do
		local alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	kill -9 "${PIDS[@]}" 2>/dev/null
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
}
cleanup() {
	stop_all
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building loadgen"
(cd "$BENCH_DIR" && go build -o "$BIN/loadgen" ./loadgen) || exit 1
PLUME_LABEL=${BENCH_PLUME_LABEL:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)}
[ -n "${PLUME_BIN:-}" ] && PLUME_LABEL=${BENCH_PLUME_LABEL:-$PLUME_BIN}
if [ -z "${PLUME_BIN:-}" ]; then
	log "building plume"
	(cd "$ROOT" && go build -o "$BIN/plume" ./cmd/plume) || exit 1
fi

# next_port VAR sets VAR to the first free loopback port after the last one
# handed out (not in a subshell: PORT must advance).
next_port() {
	PORT=$("$BIN/loadgen" freeport -from $((PORT + 1))) || return 1
	printf -v "$1" '%s' "$PORT"
}

# run_plume LOG ARGS... starts one plume process with a raised open-file limit.
run_plume() {
	local logf=$1
	shift
	bash -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"' plume "$PLUME" "$@" \
		--log-level warn >>"$logf" 2>&1 &
	PIDS+=($!)
}

# start_single starts single-node Plume (no cluster, in-memory store): the
# baseline. Sets ADDRS (one address) and PIDS.
start_single() {
	local mqtt
	next_port mqtt || return 1
	run_plume "$RUN_DIR/single.log" --listen "127.0.0.1:$mqtt"
	ADDRS=("127.0.0.1:$mqtt")
	"$BIN/loadgen" wait -addr "${ADDRS[0]}" -pid "${PIDS[0]}" -timeout 10s
}

# start_cluster starts three nodes, n1..n3, each with its MQTT listener,
# route listener and NATS client listener on fresh loopback ports and its
# data directory (JetStream's files) under a fresh directory, then waits
# until each answers CONNECT (a node opens its MQTT listener only once the
# NATS cluster has formed and its JetStream store is open). Sets ADDRS, PIDS.
start_cluster() {
	local dir=$1 i mqtt=() route=() client=() routes
	for i in 0 1 2; do
		next_port "mqtt[$i]" && next_port "route[$i]" && next_port "client[$i]" || return 1
	done
	routes="127.0.0.1:${route[0]}, 127.0.0.1:${route[1]}, 127.0.0.1:${route[2]}"
	ADDRS=()
	for i in 0 1 2; do
		mkdir -p "$dir/n$((i + 1))"
		cat >"$dir/n$((i + 1)).yaml" <<CONF
sys_interval: -1s
listeners:
  - address: 127.0.0.1:${mqtt[i]}
cluster:
  name: plume-bench
  node: n$((i + 1))
  listen: 127.0.0.1:${route[i]}
  client_listen: 127.0.0.1:${client[i]}
  peers: [$routes]
  start_timeout: 60s
  sync: $SYNC
CONF
		run_plume "$RUN_DIR/n$((i + 1)).log" --config "$dir/n$((i + 1)).yaml" --data-dir "$dir/n$((i + 1))"
		ADDRS+=("127.0.0.1:${mqtt[i]}")
	done
	for i in 0 1 2; do
		"$BIN/loadgen" wait -addr "${ADDRS[i]}" -pid "${PIDS[i]}" -timeout 90s || return 1
	done
}

# measure NAME SCENARIO ROUND: one run of SCENARIO against what is started.
# Cluster: publishers of pairs on n1, subscribers on n2; fanin's publishers
# round-robin over n1, n2, n3 and its subscriber on n2.
measure() {
	local name=$1 scenario=$2 round=$3 out="$RUN_DIR/$1-$2-r$3.json" where=()
	if [ "$name" = cluster ]; then
		case $scenario in
		pairs*) where=(-pub-addrs "${ADDRS[0]}" -sub-addrs "${ADDRS[1]}") ;;
		fanin*) where=(-pub-addrs "${ADDRS[0]},${ADDRS[1]},${ADDRS[2]}" -sub-addrs "${ADDRS[1]}") ;;
		esac
		where+=(-pids "${PIDS[1]},${PIDS[2]}")
	fi
	log "round $round/$ROUNDS: $scenario on $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
	if ! timeout 180 "$BIN/loadgen" run -addr "${ADDRS[0]}" "${where[@]}" -broker "plume-$name" \
		-scenario "$scenario" -pid "${PIDS[0]}" -duration "$DURATION" -warmup "$WARMUP" \
		-outstanding "$OUTSTANDING" -inflight "$INFLIGHT" -out "$out" >/dev/null; then
		printf '[{"broker":"plume-%s","scenario":"%s","error":"loadgen failed or timed out","lost":0}]\n' \
			"$name" "$scenario" >"$out"
	fi
}

# Each (scenario, broker) run gets fresh processes and, for the cluster, a
# fresh JetStream: no run's streams or heap carry into the next. Single and
# cluster alternate within each scenario.
for round in $(seq "$ROUNDS"); do
	for scenario in $SCENARIOS; do
		for name in single cluster; do
			if [ "$name" = single ]; then
				start_single
			else
				start_cluster "$RUN_DIR/data-$scenario-r$round"
			fi || {
				log "plume-$name did not start; log tails:"
				tail -n 5 "$RUN_DIR"/*.log >&2
				printf '[{"broker":"plume-%s","scenario":"%s","error":"did not start","lost":0}]\n' \
					"$name" "$scenario" >"$RUN_DIR/$name-$scenario-r$round.json"
				stop_all
				continue
			}
			measure "$name" "$scenario" "$round"
			stop_all
			rm -rf "$RUN_DIR/data-$scenario-r$round"
		done
	done
done

SETTINGS="window=$DURATION warmup=$WARMUP outstanding=$OUTSTANDING inflight=$INFLIGHT rounds=$ROUNDS nodes=3 replicas=3 sync=$SYNC"
# The commit measured: HEAD's when the script built plume (read before the
# first run, so a commit made during the run does not relabel it); with
# PLUME_BIN, the caller's to state (BENCH_PLUME_LABEL).
SETTINGS+=" plume=$PLUME_LABEL cpus=$(nproc)"
"$BIN/loadgen" clusterreport -settings "$SETTINGS" -out "$RESULTS" "$RUN_DIR"/*.json | tee "${RESULTS%.json}.txt"
