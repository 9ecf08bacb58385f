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
#   BENCH_IDLE_PING_EVERY  idle-ping scenario (opt-in): the idle scenario's
#                      connections each sending PINGREQ this often, spread (15s)
#   BENCH_IDLE_PING_FOR    how long they ping before RSS is read (60s)
#   BENCH_TRICKLE_CONNS connections in the trickle scenario (1000), each
#                      announcing a 1 MiB PUBLISH and sending a byte every 2 s
#   BENCH_OUTSTANDING  max messages in flight end to end, per publisher (1000)
#   BENCH_SCENARIOS    subset of "pairs fanin fanout idle trickle pairs-durable
#                      fanin-durable", plus "recovery" and "idle-ping" (opt-in, not in the default)
#                      and the latency-bound ones of issue 13 (opt-in; make
#                      bench-latency runs them all): pingpong-q0-1 pingpong-q0-8
#                      pingpong-q1-1 pingpong-q1-8 pingpong-q2-1 pingpong-q2-8
#                      fanout-paced fleet, and the paced ping-pongs (the same
#                      at a fixed rate: equal throughput for every broker)
#                      pingpong-q0-1-paced pingpong-q0-8-paced
#                      pingpong-q1-1-paced pingpong-q1-8-paced
#   BENCH_PINGPONG_RATE  round trips a second per client in the paced ping-pongs (5000)
#   BENCH_FLEET_DEVICES  publishing connections in the fleet scenario (10000)
#   BENCH_BROKERS      subset of "plume plume+plugins plume+standard plume-sync plume-async mochi
#                      mochi-pebble mosquitto mosquitto-persist plume-tls mochi-tls
#                      mosquitto-tls", the opt-in floor "reflector" (bench/peers/reflector:
#                      one epoll loop that only echoes; ping-pong scenarios only,
#                      decision 0040) and the opt-in transports "plume-mtls
#                      mosquitto-mtls plume-ws plume-wss". The durable
#                      brokers (plume-sync: --data-dir; plume-async: store.mode
#                      async; mochi-pebble: its Pebble hook; mosquitto-persist:
#                      persistence true) run only the -durable scenarios, which
#                      mochi and mosquitto in memory skip; plume runs everything.
#                      The transport brokers (-tls, -mtls: TLS with a client
#                      certificate required; -ws, -wss: MQTT over WebSockets at
#                      /mqtt) run BENCH_TLS_SCENARIOS over that transport
#   BENCH_TLS_SCENARIOS  scenarios the transport brokers run ("pairs idle")
#   BENCH_RECOVERY_SESSIONS  offline persistent sessions the recovery scenario fills (10000)
#   BENCH_RECOVERY_MESSAGES  QoS 1 messages it queues across them (1000000)
#   BENCH_RECOVERY_BROKERS   brokers it fills and restarts ("plume-sync mochi-pebble mosquitto-persist")
#   BENCH_RECOVERY_STOPS     how the filled broker is stopped, each from a fresh fill ("sigterm kill-9")
#   PLUME_BIN          use this plume binary instead of building ./cmd/plume
#   BENCH_RESULTS      where the JSON report goes (bench/results/latest.json;
#                      make bench-recovery: bench/results/recovery.json)
#   BENCH_PLUGIN_LANG  go (default) or rust: which SDK's build of the benchmark plugin
#   BENCH_PLUGIN_SCENARIOS  scenarios that plume+plugins runs ("pairs"): Plume
#                      with bench/plugins/allowappend, one authorize and one
#                      transform call on every message; plume+standard runs
#                      them too: the built-ins rate-limit, password-file and
#                      acl-file, its clients logged in as user bench
#   BENCH_METRICS_SCENARIOS  scenarios that plume+metrics runs ("pairs"): Plume
#                      with --http and GET /metrics scraped every second
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
IDLE_PING_EVERY=${BENCH_IDLE_PING_EVERY:-15s}
IDLE_PING_FOR=${BENCH_IDLE_PING_FOR:-60s}
OUTSTANDING=${BENCH_OUTSTANDING:-1000}
FLEET_DEVICES=${BENCH_FLEET_DEVICES:-10000}
PINGPONG_RATE=${BENCH_PINGPONG_RATE:-5000}
SCENARIOS=${BENCH_SCENARIOS:-pairs fanin fanout idle trickle pairs-durable fanin-durable}
BROKERS=${BENCH_BROKERS:-plume plume+plugins plume+standard plume+metrics plume-sync plume-async mochi mochi-pebble mosquitto mosquitto-persist plume-tls mochi-tls mosquitto-tls}
RECOVERY_SESSIONS=${BENCH_RECOVERY_SESSIONS:-10000}
RECOVERY_MESSAGES=${BENCH_RECOVERY_MESSAGES:-1000000}
RECOVERY_BROKERS=${BENCH_RECOVERY_BROKERS:-plume-sync mochi-pebble mosquitto-persist}
RECOVERY_STOPS=${BENCH_RECOVERY_STOPS:-sigterm kill-9}
PLUME=${PLUME_BIN:-$BENCH_DIR/bin/plume}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results/latest.json}
PLUGIN_SCENARIOS=${BENCH_PLUGIN_SCENARIOS:-pairs}
METRICS_SCENARIOS=${BENCH_METRICS_SCENARIOS:-pairs}
TLS_SCENARIOS=${BENCH_TLS_SCENARIOS:-pairs idle}
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
	local msg
	msg=$(printf '%s' "$3" | tr -d '\000-\037\\' | tr '"' "'")
	printf '[{"broker":"%s","scenario":"%s","error":"%s","lost":0}]\n' "$1" "$2" "$msg" >"$4"
}

# ---- build ------------------------------------------------------------------
log "building loadgen and the mochi peer"
(cd "$BENCH_DIR" && go build -o "$BIN/loadgen" ./loadgen && go build -o "$BIN/mochi" ./peers/mochi &&
	go build -o "$BIN/reflector" ./peers/reflector) || {
	echo "compare.sh: building bench/loadgen, bench/peers/mochi or bench/peers/reflector failed" >&2
	exit 1
}

declare -A UNAVAILABLE=()
if [ -n "${PLUME_BIN:-}" ]; then
	log "plume: using $PLUME_BIN (PLUME_BIN), not building"
	[ -x "$PLUME_BIN" ] || UNAVAILABLE[plume]="PLUME_BIN $PLUME_BIN is not an executable"
else
	log "building plume"
	if ! (cd "$ROOT" && go build -o "$BIN/plume" ./cmd/plume) >"$RUN_DIR/plume-build.log" 2>&1; then
		UNAVAILABLE[plume]="not built (go build ./cmd/plume failed)"
		log "plume: not built; continuing with the peers ($(head -c 300 "$RUN_DIR/plume-build.log" | tr '\n' ' '))"
		rm -f "$BIN/plume"
	fi
fi
if [ -n "${UNAVAILABLE[plume]:-}" ]; then
	for b in plume+standard plume-sync plume-async plume-tls plume-mtls plume-ws plume-wss; do UNAVAILABLE[$b]=${UNAVAILABLE[plume]}; done
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

# The transport rows' certificates, made afresh for every run (ECDSA P-256,
# for localhost and 127.0.0.1): every broker serves the same ones.
CERTS=$RUN_DIR/certs
mkdir -p "$CERTS"
"$BIN/loadgen" certs -dir "$CERTS" || {
	echo "compare.sh: loadgen certs failed" >&2
	exit 1
}

MOSQUITTO=$(command -v mosquitto || true)
[ -z "$MOSQUITTO" ] && [ -x /usr/sbin/mosquitto ] && MOSQUITTO=/usr/sbin/mosquitto
if [ -z "$MOSQUITTO" ]; then
	UNAVAILABLE[mosquitto]="not installed (apt-get install mosquitto)"
	UNAVAILABLE[mosquitto-persist]=${UNAVAILABLE[mosquitto]}
	UNAVAILABLE[mosquitto-tls]=${UNAVAILABLE[mosquitto]} UNAVAILABLE[mosquitto-mtls]=${UNAVAILABLE[mosquitto]}
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
	plume-sync) from=$((BASE_PORT + 40)) ;;
	plume-async) from=$((BASE_PORT + 50)) ;;
	mochi-pebble) from=$((BASE_PORT + 60)) ;;
	mosquitto-persist) from=$((BASE_PORT + 70)) ;;
	plume-tls) from=$((BASE_PORT + 80)) ;;
	mochi-tls) from=$((BASE_PORT + 90)) ;;
	mosquitto-tls) from=$((BASE_PORT + 100)) ;;
	plume-mtls) from=$((BASE_PORT + 110)) ;;
	mosquitto-mtls) from=$((BASE_PORT + 120)) ;;
	plume-ws) from=$((BASE_PORT + 130)) ;;
	plume-wss) from=$((BASE_PORT + 140)) ;;
	plume+standard) from=$((BASE_PORT + 150)) ;;
	plume+metrics) from=$((BASE_PORT + 160)) ;;
	plume+metrics-ops) from=$((BASE_PORT + 170)) ;;
	reflector) from=$((BASE_PORT + 180)) ;;
	esac
	"$BIN/loadgen" freeport -from "$from"
}

# mosquitto_conf PORT [DATA_DIR] writes a configuration comparable to the Go
# brokers' defaults: anonymous access, TCP_NODELAY as Go sets it on every
# socket, no limit on QoS 1 messages in flight to a client (mochi sets none
# for 3.1.1 clients) and a queue deep enough that the QoS 1 scenario is never
# dropped by a queue limit rather than a broker's speed. No persistence, or
# with DATA_DIR persistence on with the default autosave settings
# (autosave_interval 1800 s: the in-memory state is written to DATA_DIR
# every 30 minutes and at a clean shutdown). As root Mosquitto would switch
# to its own user, which cannot write into the run's private directory:
# "user root" keeps it as it was started.
#
# mosquitto_conf PORT "" tls|mtls makes the listener TLS with the run's
# certificates (certfile, keyfile, and cafile, which mtls also verifies the
# client certificate against: require_certificate true); Go's defaults and
# Mosquitto's differ in ciphers only where neither was asked to.
mosquitto_conf() {
	local persist="persistence false" tls=""
	if [ -n "${2:-}" ]; then
		persist="persistence true"$'\n'"persistence_location $2/"
		[ "$(id -u)" = 0 ] && persist+=$'\n'"user root"
	fi
	if [ -n "${3:-}" ]; then
		tls="certfile $CERTS/server.pem"$'\n'"keyfile $CERTS/server-key.pem"$'\n'"cafile $CERTS/ca.pem"
		[ "$3" = mtls ] && tls+=$'\n'"require_certificate true"
		# The key is in the run's private folder, which Mosquitto's own user
		# cannot read.
		[ "$(id -u)" = 0 ] && [ -z "${2:-}" ] && tls+=$'\n'"user root"
	fi
	cat >"$RUN_DIR/mosquitto.conf" <<CONF
listener $1 127.0.0.1
$tls
allow_anonymous true
$persist
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

# standard_conf writes Plume's config for plume+standard: the chain of
# examples/secure/plume.yaml (rate-limit, then password-file, then acl-file,
# all built in) with its files made for the run. One user, bench, shared by
# every client, with a fresh random password hashed by `plume passwd -b`
# (argon2id, the default: ~25 ms per CONNECT in Wasm, paid 17 times before
# the window opens); the ACL lets bench write and read bench/pair/+, the
# pairs scenario's topics, and nothing else. The rate limits are far above
# what the benchmark sends (Plume's pairs is ~1.5M msgs/s over 8 publishers)
# so nothing is refused: the row measures the chain's cost, not its limits.
# call_timeout 2s instead of 100 ms: on two shared cores a call waiting for
# one of the GOMAXPROCS instances passed 100 ms, and a failed on-publish
# lets the message through unchecked (on_error.message: open) while a failed
# authenticate refuses the client; neither is the cost measured here. Any
# "plugin call failed" in the broker's log turns the run into an error.
STANDARD_USER=bench
STANDARD_PASSWORD=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
standard_conf() {
	local dir=$RUN_DIR/standard
	if [ ! -f "$dir/plume.yaml" ]; then
		mkdir -p "$dir"
		"$PLUME" passwd -c -b "$dir/passwd" "$STANDARD_USER" "$STANDARD_PASSWORD" >&2 || return 1
		cat >"$dir/acl" <<ACL
user $STANDARD_USER
topic write bench/pair/+
topic read bench/pair/+
ACL
		cat >"$dir/plume.yaml" <<CONF
allow_anonymous: false
plugins:
  cache_dir: $RUN_DIR/plugin-cache
  chain:
    - name: limits
      builtin: rate-limit
      call_timeout: 2s
      config:
        per_client: {messages_per_second: 10000000, bytes_per_second: 1000000000}
        connects_per_client_per_minute: 1000
        connects_per_address_per_minute: 100000
    - name: passwords
      builtin: password-file
      call_timeout: 2s
      config: {file: passwd}
    - name: acl
      builtin: acl-file
      call_timeout: 2s
      config: {file: acl}
CONF
	fi
	echo "$dir/plume.yaml"
}

# async_conf PORT DATA_DIR writes Plume's config for plume-async: the
# durable store in async mode (acknowledged once in the store's log, fsynced
# every sync_interval, 100 ms by default), listener and logging as for plume.
async_conf() {
	cat >"$RUN_DIR/plume-async.yaml" <<CONF
allow_anonymous: true
listeners:
  - {name: default, type: tcp, address: "127.0.0.1:$1"}
store:
  path: $2
  mode: async
CONF
	echo "$RUN_DIR/plume-async.yaml"
}

# transport_conf PORT TYPE writes Plume's config for the transport rows: one
# listener of TYPE (tls, mtls: tls with client_ca_file, which makes
# client_auth require; ws; wss) with the run's certificates.
transport_conf() {
	local keys="" type=$2
	case $2 in
	tls | wss) keys="cert_file: $CERTS/server.pem, key_file: $CERTS/server-key.pem" ;;
	mtls) type=tls keys="cert_file: $CERTS/server.pem, key_file: $CERTS/server-key.pem, client_ca_file: $CERTS/ca.pem" ;;
	esac
	cat >"$RUN_DIR/plume-$2.yaml" <<CONF
allow_anonymous: true
listeners:
  - {name: bench, type: $type, address: "127.0.0.1:$1"${keys:+, $keys}}
CONF
	echo "$RUN_DIR/plume-$2.yaml"
}

# transport NAME: the transport a broker is reached over (tcp, tls, mtls, ws, wss).
transport() {
	case $1 in
	*-tls) echo tls ;;
	*-mtls) echo mtls ;;
	*-wss) echo wss ;;
	*-ws) echo ws ;;
	*) echo tcp ;;
	esac
}

# client_args NAME PORT prints the load generator's -addr for NAME, and the
# certificate flags its transport needs, one per line.
client_args() {
	case $(transport "$1") in
	tcp) printf '%s\n' -addr "127.0.0.1:$2" ;;
	tls) printf '%s\n' -addr "tls://127.0.0.1:$2" -ca "$CERTS/ca.pem" ;;
	mtls) printf '%s\n' -addr "tls://127.0.0.1:$2" -ca "$CERTS/ca.pem" -cert "$CERTS/client.pem" -key "$CERTS/client-key.pem" ;;
	ws) printf '%s\n' -addr "ws://127.0.0.1:$2/mqtt" ;;
	wss) printf '%s\n' -addr "wss://127.0.0.1:$2/mqtt" -ca "$CERTS/ca.pem" ;;
	esac
}

# durable NAME: is NAME a broker with its store on disk?
durable() { case $1 in plume-sync | plume-async | mochi-pebble | mosquitto-persist) return 0 ;; esac; return 1; }

# Plume logs at warn during throughput runs (per-connection lines would cost it
# writes); the recovery scenario asks for info in JSON, for the "recovered
# session store" line.
PLUME_LOG=(--log-level warn)

# launch_broker NAME [DATA_DIR [LOG]] starts a broker with a raised open-file
# limit, its log appended to LOG ($RUN_DIR/NAME.log), without waiting for it.
# It sets BROKER_PID, BROKER_PORT and BROKER_STARTED (Unix ns, just before
# the exec).
launch_broker() {
	local name=$1 data=${2:-} logf=${3:-$RUN_DIR/$1.log} port
	port=$(port_of "$name") || return 1
	local cmd
	case $name in
	plume) cmd=("$PLUME" --listen "127.0.0.1:$port" "${PLUME_LOG[@]}") ;;
	plume-sync) cmd=("$PLUME" --listen "127.0.0.1:$port" --data-dir "$data" "${PLUME_LOG[@]}") ;;
	plume-async) cmd=("$PLUME" --config "$(async_conf "$port" "$data")" "${PLUME_LOG[@]}") ;;
	mochi) cmd=("$BIN/mochi" -addr "127.0.0.1:$port") ;;
	mochi-pebble) cmd=("$BIN/mochi" -addr "127.0.0.1:$port" -pebble "$data") ;;
	reflector) cmd=("$BIN/reflector" -addr "127.0.0.1:$port") ;;
	mosquitto) cmd=("$MOSQUITTO" -c "$(mosquitto_conf "$port")") ;;
	mosquitto-persist) cmd=("$MOSQUITTO" -c "$(mosquitto_conf "$port" "$data")") ;;
	plume+plugins) cmd=("$PLUME" --config "$(plugins_conf)" --listen "127.0.0.1:$port" "${PLUME_LOG[@]}") ;;
	plume+metrics)
		METRICS_PORT=$(port_of plume+metrics-ops) || return 1
		cmd=("$PLUME" --listen "127.0.0.1:$port" --http "127.0.0.1:$METRICS_PORT" "${PLUME_LOG[@]}") ;;
	plume+standard)
		local conf
		conf=$(standard_conf) || return 1
		cmd=("$PLUME" --config "$conf" --listen "127.0.0.1:$port" "${PLUME_LOG[@]}") ;;
	plume-tls | plume-mtls | plume-ws | plume-wss)
		cmd=("$PLUME" --config "$(transport_conf "$port" "$(transport "$name")")" "${PLUME_LOG[@]}") ;;
	mochi-tls) cmd=("$BIN/mochi" -addr "127.0.0.1:$port" -tls-cert "$CERTS/server.pem" -tls-key "$CERTS/server-key.pem") ;;
	mosquitto-tls | mosquitto-mtls) cmd=("$MOSQUITTO" -c "$(mosquitto_conf "$port" "" "$(transport "$name")")") ;;
	*) echo "compare.sh: unknown broker $name" >&2 && return 1 ;;
	esac
	BROKER_STARTED=$(date +%s%N)
	# exec keeps the PID, so /proc/$BROKER_PID is the broker's own.
	bash -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"' broker "${cmd[@]}" \
		>>"$logf" 2>&1 &
	BROKER_PID=$! BROKER_PORT=$port
	if [ "$name" = plume+metrics ]; then
		# Prometheus's part: GET /metrics every second while the broker lives.
		(while kill -0 "$BROKER_PID" 2>/dev/null; do
			curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/metrics"
			sleep 1
		done) &
		SCRAPER_PID=$!
	fi
	mapfile -t CLIENT < <(client_args "$name" "$port")
	[ "$name" = plume+standard ] && CLIENT+=(-username "$STANDARD_USER" -password "$STANDARD_PASSWORD")
	return 0
}

# start_broker NAME [DATA_DIR] launches a fresh broker and waits until it
# answers CONNECT; a broker that exits first (a flag or config it does not
# know) fails at once rather than after the timeout, and START_ERROR then
# holds the first line it logged.
start_broker() {
	local logf=$RUN_DIR/$1.log lines
	lines=$(cat "$logf" 2>/dev/null | wc -l)
	START_ERROR=""
	launch_broker "$@" || return 1
	if ! "$BIN/loadgen" wait "${CLIENT[@]}" -pid "$BROKER_PID" -timeout 10s 2>>"$logf" ||
		! kill -0 "$BROKER_PID" 2>/dev/null; then
		stop_broker
		START_ERROR=$(tail -n +$((lines + 1)) "$logf" | grep -v '^loadgen:' | head -1 | cut -c1-120)
		return 1
	fi
}

# stop_broker [SECONDS] sends SIGTERM and waits up to SECONDS (5) for the
# broker to exit before kill -9.
stop_broker() {
	[ -z "$BROKER_PID" ] && return 0
	kill "$BROKER_PID" 2>/dev/null
	for _ in $(seq $((${1:-5} * 10))); do
		kill -0 "$BROKER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
	BROKER_PID=""
	if [ -n "${SCRAPER_PID:-}" ]; then
		kill "$SCRAPER_PID" 2>/dev/null
		wait "$SCRAPER_PID" 2>/dev/null
		SCRAPER_PID=""
	fi
}

# runs BROKER SCENARIO: does BROKER take part in SCENARIO? The durable
# brokers run only the -durable scenarios; of the in-memory brokers only
# plume runs those too (the baseline the durable Plume rows are divided by);
# plume+plugins runs BENCH_PLUGIN_SCENARIOS, the transport brokers
# BENCH_TLS_SCENARIOS.
runs() {
	local broker=$1 scenario=$2
	case $broker in
	plume+plugins | plume+standard) [[ " $PLUGIN_SCENARIOS " == *" $scenario "* ]] ;;
	plume+metrics) [[ " $METRICS_SCENARIOS " == *" $scenario "* ]] ;;
	*-tls | *-mtls | *-ws | *-wss) [[ " $TLS_SCENARIOS " == *" $scenario "* ]] ;;
	plume) true ;;
	reflector) [[ $scenario == pingpong-* ]] ;; # it only echoes: the ping-pong floor
	*) if durable "$broker"; then [[ $scenario == *-durable ]]; else [[ $scenario != *-durable ]]; fi ;;
	esac
}

# ---- run --------------------------------------------------------------------
# Brokers take turns within each scenario, so a burst of other load on the
# machine is spread across them rather than landing on one broker's runs.
for round in $(seq "$ROUNDS"); do
	for scenario in $SCENARIOS; do
		[ "$scenario" = recovery ] && continue # below, once
		for broker in $BROKERS; do
			runs "$broker" "$scenario" || continue
			out="$RUN_DIR/$broker-$scenario-r$round.json"
			if [ -n "${UNAVAILABLE[$broker]:-}" ]; then
				record_error "$broker" "$scenario" "${UNAVAILABLE[$broker]}" "$out"
				continue
			fi
			# A fresh, empty data directory for every run of a durable broker.
			data=""
			if durable "$broker"; then
				data="$RUN_DIR/data/$broker-$scenario-r$round"
				mkdir -p "$data"
			fi
			log_lines=$(cat "$RUN_DIR/$broker.log" 2>/dev/null | wc -l)
			if ! start_broker "$broker" "$data"; then
				record_error "$broker" "$scenario" "did not start: ${START_ERROR:-see its log}" "$out"
				log "$broker: did not start for $scenario; log tail:"
				tail -5 "$RUN_DIR/$broker.log" >&2
				continue
			fi
			# A row that claims to authenticate and authorize must: no
			# login and a wrong password refused, a topic outside the ACL
			# refused at SUBACK (loadgen authcheck).
			if [ "$broker" = plume+standard ] &&
				! "$BIN/loadgen" authcheck "${CLIENT[@]}" 2>>"$RUN_DIR/$broker.log"; then
				record_error "$broker" "$scenario" "authcheck failed: $(tail -1 "$RUN_DIR/$broker.log")" "$out"
				log "$broker: authcheck failed; log tail:"
				tail -5 "$RUN_DIR/$broker.log" >&2
				stop_broker
				continue
			fi
			log "round $round/$ROUNDS: $scenario on $broker"
			conns=$IDLE_CONNS
			[ "$scenario" = trickle ] && conns=$TRICKLE_CONNS
			if ! timeout 180 "$BIN/loadgen" run "${CLIENT[@]}" -broker "$broker" \
				-scenario "$scenario" -pid "$BROKER_PID" -duration "$DURATION" -warmup "$WARMUP" \
				-conns "$conns" -outstanding "$OUTSTANDING" -fleet-devices "$FLEET_DEVICES" -pingpong-rate "$PINGPONG_RATE" \
				-ping-every "$IDLE_PING_EVERY" -ping-for "$IDLE_PING_FOR" -out "$out" >/dev/null; then
				record_error "$broker" "$scenario" "loadgen failed or timed out" "$out"
			fi
			if ! kill -0 "$BROKER_PID" 2>/dev/null; then
				log "$broker exited during $scenario; log tail:"
				tail -5 "$RUN_DIR/$broker.log" >&2
			fi
			stop_broker 30
			# A chain call that failed (deadline, trap) skipped that plugin
			# for that message or client: the row did not measure the chain.
			if [ "$broker" = plume+standard ] &&
				tail -n +$((log_lines + 1)) "$RUN_DIR/$broker.log" | grep -q 'plugin call failed'; then
				record_error "$broker" "$scenario" "plugin calls failed during the run (see its log): the chain was skipped" "$out"
			fi
			# A durable broker that wrote nothing (Mosquitto writes at
			# shutdown) was not measured with its store on.
			if [ -n "$data" ] && [ -z "$(find "$data" -type f -print -quit)" ]; then
				record_error "$broker" "$scenario" "wrote nothing to its data dir: store not in use" "$out"
			fi
		done
	done
done

# run_recovery BROKER STOP fills a fresh BROKER with the recovery load, stops it
# (STOP: sigterm, or kill-9), starts it again on the same data and measures
# the restart (bench/README.md, "Recovery").
run_recovery() {
	local broker=$1 stop=$2 tag="$1-recovery-$2"
	local data="$RUN_DIR/data/$tag" fill="$RUN_DIR/fill/$tag.json" out="$RUN_DIR/$tag.json" stop_s=0
	mkdir -p "$data" "$RUN_DIR/fill"
	if [ -n "${UNAVAILABLE[$broker]:-}" ]; then
		record_error "$broker" "recovery-$stop" "${UNAVAILABLE[$broker]}" "$out"
		return
	fi
	if ! start_broker "$broker" "$data"; then
		record_error "$broker" "recovery-$stop" "did not start: ${START_ERROR:-see its log}" "$out"
		log "$broker: did not start for recovery; log tail:"
		tail -5 "$RUN_DIR/$broker.log" >&2
		return
	fi
	log "recovery ($stop): filling $broker with $RECOVERY_MESSAGES messages for $RECOVERY_SESSIONS offline sessions"
	if ! timeout 3600 "$BIN/loadgen" fill -addr "127.0.0.1:$BROKER_PORT" -broker "$broker" \
		-sessions "$RECOVERY_SESSIONS" -messages "$RECOVERY_MESSAGES" -out "$fill" >/dev/null; then
		record_error "$broker" "recovery-$stop" "fill failed or timed out" "$out"
		stop_broker
		return
	fi
	if [ "$stop" = sigterm ]; then
		local t0
		t0=$(date +%s%N)
		stop_broker 300
		stop_s=$(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.3f", d / 1e9 }')
	else
		kill -9 "$BROKER_PID" 2>/dev/null
		wait "$BROKER_PID" 2>/dev/null
		BROKER_PID=""
	fi
	log "recovery ($stop): restarting $broker"
	local restart_log="$RUN_DIR/$tag-restart.log"
	launch_broker "$broker" "$data" "$restart_log" || return
	if ! timeout 1200 "$BIN/loadgen" recovered -addr "127.0.0.1:$BROKER_PORT" -broker "$broker" \
		-pid "$BROKER_PID" -started "$BROKER_STARTED" -fill "$fill" -stop "$stop" -stop-s "$stop_s" \
		-log "$restart_log" -data-dir "$data" -out "$out" >/dev/null; then
		record_error "$broker" "recovery-$stop" "loadgen recovered failed or timed out" "$out"
	fi
	if ! kill -0 "$BROKER_PID" 2>/dev/null; then
		log "$broker exited after its restart; log tail:"
		tail -5 "$restart_log" >&2
	fi
	stop_broker 300
	rm -rf "$data" # a million messages, times every broker and stop
}

if [[ " $SCENARIOS " == *" recovery "* ]]; then
	PLUME_LOG=(--log-level info --log-format json)
	for broker in $RECOVERY_BROKERS; do
		for stop in $RECOVERY_STOPS; do
			run_recovery "$broker" "$stop"
		done
	done
fi

echo
MOSQ_VERSION=$([ -n "$MOSQUITTO" ] && "$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}')
PLUME_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)
[ -n "${PLUME_BIN:-}" ] && PLUME_COMMIT="$PLUME_BIN($("$PLUME_BIN" version 2>/dev/null | awk '{print $2}'))"
SETTINGS="window=$DURATION warmup=$WARMUP outstanding=$OUTSTANDING idle_conns=$IDLE_CONNS idle_ping=$IDLE_PING_EVERY/$IDLE_PING_FOR trickle_conns=$TRICKLE_CONNS rounds=$ROUNDS tls_scenarios=${TLS_SCENARIOS// /,}"
SETTINGS+=" plume=${PLUME_COMMIT:-unknown} mochi=$(cd "$BENCH_DIR" && go list -m -f '{{.Version}}' github.com/mochi-mqtt/server/v2)"
SETTINGS+=" mosquitto=${MOSQ_VERSION:-none}"
# The peers' production settings, stated with every result (mosquitto_conf).
SETTINGS+=" mosquitto_conf=set_tcp_nodelay_true,max_inflight_messages_0,max_queued_messages_1000000,persistence_false"
[[ " $SCENARIOS " == *" fleet "* ]] && SETTINGS+=" fleet_devices=$FLEET_DEVICES"
[[ " $SCENARIOS " == *-paced* ]] && SETTINGS+=" pingpong_rate_per_client=$PINGPONG_RATE"
[[ " $SCENARIOS " == *" recovery "* ]] && SETTINGS+=" recovery_sessions=$RECOVERY_SESSIONS recovery_messages=$RECOVERY_MESSAGES"
"$BIN/loadgen" report -settings "$SETTINGS" -out "$RESULTS" "$RUN_DIR"/*.json
echo "results: $RESULTS (window $DURATION per throughput scenario, $(nproc) CPUs shared by broker and load generator)"
