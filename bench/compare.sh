#!/usr/bin/env bash
# compare.sh runs the whole-broker load benchmark: every scenario against
# Plume, mochi-mqtt v2 and Mosquitto, one broker process at a time (a fresh
# one for each scenario), then prints one table and writes
# bench/results/latest.json. `make bench-compare` runs it; see bench/README.md.
#
# Environment:
#   BENCH_DURATION     measured window of each throughput scenario (10s)
#   BENCH_WARMUP       publishing before the window opens (1s)
#   BENCH_IDLE_CONNS   connections in the idle scenario (8000)
#   BENCH_TRICKLE_CONNS connections in the trickle scenario (1000), each
#                      announcing a 1 MiB PUBLISH and sending a byte every 2 s
#   BENCH_OUTSTANDING  max messages in flight end to end, per publisher (1000)
#   BENCH_SCENARIOS    subset of "pairs fanin fanout idle trickle"
#   BENCH_BROKERS      subset of "plume plume+plugins mochi mosquitto"
#   BENCH_PLUGIN_LANG  go (default) or rust: which SDK's build of the benchmark plugin
#   BENCH_PLUGIN_SCENARIOS  scenarios that plume+plugins runs ("pairs"): Plume
#                      with bench/plugins/allowappend, one authorize and one
#                      transform call on every message
#   BENCH_ROUNDS       run everything this many times, report the median (1)
#   BENCH_PORT         first loopback port to try; each broker gets the first
#                      free one from PORT, PORT+10, PORT+20, PORT+30 (28830)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BIN=$BENCH_DIR/bin
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-1s}
IDLE_CONNS=${BENCH_IDLE_CONNS:-8000}
TRICKLE_CONNS=${BENCH_TRICKLE_CONNS:-1000}
OUTSTANDING=${BENCH_OUTSTANDING:-1000}
SCENARIOS=${BENCH_SCENARIOS:-pairs fanin fanout idle trickle}
BROKERS=${BENCH_BROKERS:-plume plume+plugins mochi mosquitto}
PLUGIN_SCENARIOS=${BENCH_PLUGIN_SCENARIOS:-pairs}
BASE_PORT=${BENCH_PORT:-28830}
ROUNDS=${BENCH_ROUNDS:-1}

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/plume-bench.XXXXXX")
mkdir -p "$BIN" "$BENCH_DIR/results"
BROKER_PID=""

cleanup() {
	stop_broker
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

# record_error BROKER SCENARIO MESSAGE FILE writes a result that says why there is
# no measurement, so the table shows it instead of silently omitting a row.
record_error() {
	local msg=${3//\"/\'}
	printf '[{"broker":"%s","scenario":"%s","error":"%s","lost":0}]\n' "$1" "$2" "$msg" >"$4"
}

# ---- build ------------------------------------------------------------------
log "building loadgen and the mochi peer"
(cd "$BENCH_DIR" && go build -o "$BIN/loadgen" ./loadgen && go build -o "$BIN/mochi" ./peers/mochi) || {
	echo "compare.sh: building bench/loadgen or bench/peers/mochi failed" >&2
	exit 1
}

declare -A UNAVAILABLE=()
log "building plume"
if ! (cd "$ROOT" && go build -o "$BIN/plume" ./cmd/plume) >"$RUN_DIR/plume-build.log" 2>&1; then
	UNAVAILABLE[plume]="not built (go build ./cmd/plume failed)"
	log "plume: not built; continuing with the peers ($(head -c 300 "$RUN_DIR/plume-build.log" | tr '\n' ' '))"
	rm -f "$BIN/plume"
fi

# plume+plugins: the same binary with a plugin chain from a YAML config.
log "building the benchmark plugin"
if [ -n "${UNAVAILABLE[plume]:-}" ]; then
	UNAVAILABLE[plume+plugins]=${UNAVAILABLE[plume]}
elif [ "${BENCH_PLUGIN_LANG:-go}" = rust ]; then
	# The Rust twin (bench/plugins/allowappend-rust), with Debian's toolchain.
	if ! (cd "$BENCH_DIR/plugins/allowappend-rust" && PATH=/usr/bin:$PATH cargo build --offline --release \
		--target wasm32-wasi && cp target/wasm32-wasi/release/allowappend_rust.wasm "$BIN/allowappend.wasm") \
		>"$RUN_DIR/plugin-build.log" 2>&1; then
		UNAVAILABLE[plume+plugins]="plugin not built (bench/plugins/allowappend-rust)"
	fi
elif ! (cd "$BENCH_DIR/plugins" && GOOS=wasip1 GOARCH=wasm GOWORK=off go build -buildmode=c-shared \
	-o "$BIN/allowappend.wasm" ./allowappend) >"$RUN_DIR/plugin-build.log" 2>&1; then
	UNAVAILABLE[plume+plugins]="plugin not built (bench/plugins)"
	log "plume+plugins: plugin not built ($(head -c 300 "$RUN_DIR/plugin-build.log" | tr '\n' ' '))"
fi
mkdir -p "$RUN_DIR/plugin-cache"

MOSQUITTO=$(command -v mosquitto || true)
[ -z "$MOSQUITTO" ] && [ -x /usr/sbin/mosquitto ] && MOSQUITTO=/usr/sbin/mosquitto
if [ -z "$MOSQUITTO" ]; then
	UNAVAILABLE[mosquitto]="not installed (apt-get install mosquitto)"
	log "mosquitto: not found; install it with: sudo apt-get install -y mosquitto (Debian/Ubuntu)"
fi

# ---- brokers ----------------------------------------------------------------
# port_of NAME prints the first free port in the broker's own range, checked
# afresh before each start: another broker left listening on a fixed port
# would otherwise answer CONNECT and be measured in place of ours.
port_of() {
	local from
	case $1 in
	plume) from=$BASE_PORT ;;
	mochi) from=$((BASE_PORT + 10)) ;;
	mosquitto) from=$((BASE_PORT + 20)) ;;
	plume+plugins) from=$((BASE_PORT + 30)) ;;
	esac
	"$BIN/loadgen" freeport -from "$from"
}

# mosquitto_conf PORT writes a configuration comparable to the Go brokers'
# defaults: anonymous access, no persistence, TCP_NODELAY as Go sets it on
# every socket, no limit on QoS 1 messages in flight to a client (mochi sets
# none for 3.1.1 clients) and a queue deep enough that the QoS 1 scenario is
# never dropped by a queue limit rather than a broker's speed.
mosquitto_conf() {
	cat >"$RUN_DIR/mosquitto.conf" <<CONF
listener $1 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_inflight_messages 0
max_queued_messages 1000000
max_queued_bytes 0
max_keepalive 65535
log_dest stderr
log_type error
log_type warning
connection_messages false
CONF
	echo "$RUN_DIR/mosquitto.conf"
}

# plugins_conf writes Plume's config for plume+plugins: the listener comes
# from --listen; the plugin's compiled code is cached across the run, as in
# production, so a start does not pay compilation again.
plugins_conf() {
	cat >"$RUN_DIR/plume-plugins.yaml" <<CONF
allow_anonymous: true
plugins:
  cache_dir: $RUN_DIR/plugin-cache
  chain:
    - name: allowappend
      path: $BIN/allowappend.wasm
      call_timeout: 100ms
      # pool_size: the default (GOMAXPROCS instances) serves the eight
      # publishers of the pairs scenario as well as eight instances do.
CONF
	echo "$RUN_DIR/plume-plugins.yaml"
}

# start_broker NAME starts a fresh broker with a raised open-file limit and
# waits until it answers CONNECT. It sets BROKER_PID and BROKER_PORT.
start_broker() {
	local name=$1 port
	port=$(port_of "$name") || return 1
	local cmd
	case $name in
	plume) cmd=("$BIN/plume" --listen "127.0.0.1:$port" --log-level warn) ;;
	mochi) cmd=("$BIN/mochi" -addr "127.0.0.1:$port") ;;
	mosquitto) cmd=("$MOSQUITTO" -c "$(mosquitto_conf "$port")") ;;
	plume+plugins) cmd=("$BIN/plume" --config "$(plugins_conf)" --listen "127.0.0.1:$port" --log-level warn) ;;
	esac
	# exec keeps the PID, so /proc/$BROKER_PID is the broker's own.
	bash -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"' broker "${cmd[@]}" \
		>>"$RUN_DIR/$name.log" 2>&1 &
	BROKER_PID=$! BROKER_PORT=$port
	if ! "$BIN/loadgen" wait -addr "127.0.0.1:$port" -timeout 10s 2>>"$RUN_DIR/$name.log" ||
		! kill -0 "$BROKER_PID" 2>/dev/null; then
		stop_broker
		return 1
	fi
}

stop_broker() {
	[ -z "$BROKER_PID" ] && return 0
	kill "$BROKER_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$BROKER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
	BROKER_PID=""
}

# ---- run --------------------------------------------------------------------
# Brokers take turns within each scenario, so a burst of other load on the
# machine is spread across them rather than landing on one broker's runs.
for round in $(seq "$ROUNDS"); do
	for scenario in $SCENARIOS; do
		for broker in $BROKERS; do
			if [ "$broker" = plume+plugins ] && [[ " $PLUGIN_SCENARIOS " != *" $scenario "* ]]; then
				continue
			fi
			out="$RUN_DIR/$broker-$scenario-r$round.json"
			if [ -n "${UNAVAILABLE[$broker]:-}" ]; then
				record_error "$broker" "$scenario" "${UNAVAILABLE[$broker]}" "$out"
				continue
			fi
			if ! start_broker "$broker"; then
				record_error "$broker" "$scenario" "did not start (see its log)" "$out"
				log "$broker: did not start for $scenario; log tail:"
				tail -5 "$RUN_DIR/$broker.log" >&2
				continue
			fi
			log "round $round/$ROUNDS: $scenario on $broker"
			conns=$IDLE_CONNS
			[ "$scenario" = trickle ] && conns=$TRICKLE_CONNS
			if ! timeout 180 "$BIN/loadgen" run -addr "127.0.0.1:$BROKER_PORT" -broker "$broker" \
				-scenario "$scenario" -pid "$BROKER_PID" -duration "$DURATION" -warmup "$WARMUP" \
				-conns "$conns" -outstanding "$OUTSTANDING" -out "$out" >/dev/null; then
				record_error "$broker" "$scenario" "loadgen failed or timed out" "$out"
			fi
			if ! kill -0 "$BROKER_PID" 2>/dev/null; then
				log "$broker exited during $scenario; log tail:"
				tail -5 "$RUN_DIR/$broker.log" >&2
			fi
			stop_broker
		done
	done
done

echo
MOSQ_VERSION=$([ -n "$MOSQUITTO" ] && "$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}')
PLUME_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)
SETTINGS="window=$DURATION warmup=$WARMUP outstanding=$OUTSTANDING idle_conns=$IDLE_CONNS trickle_conns=$TRICKLE_CONNS rounds=$ROUNDS"
SETTINGS+=" plume=${PLUME_COMMIT:-unknown} mochi=$(cd "$BENCH_DIR" && go list -m -f '{{.Version}}' github.com/mochi-mqtt/server/v2)"
SETTINGS+=" mosquitto=${MOSQ_VERSION:-none}"
"$BIN/loadgen" report -settings "$SETTINGS" -out "$BENCH_DIR/results/latest.json" "$RUN_DIR"/*.json
echo "results: $BENCH_DIR/results/latest.json (window $DURATION per throughput scenario, $(nproc) CPUs shared by broker and load generator)"
