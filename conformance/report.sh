#!/usr/bin/env bash
# Writes docs/conformance.md: the conformance suite run against Plume and
# against Mosquitto, one column each.
#
#   conformance/report.sh BROKER_PLUME BROKER_MOSQUITTO
#
# Each broker is tcp://HOST:PORT, "-" to leave its column empty, or (for
# Mosquitto) "debian" to start Debian's Mosquitto with conformance/mosquitto.sh.
# Extra flags for each run can be given in PLUME_FLAGS and MOSQUITTO_FLAGS
# (for instance --denied-topic T); Mosquitto gets --denied-topic '$SYS/cf'.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 BROKER_PLUME BROKER_MOSQUITTO" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/conformance" ./conformance/cmd/conformance

columns=()
if [ "$1" != "-" ]; then
	# shellcheck disable=SC2086
	"$work/conformance" --broker "$1" --json "$work/plume.json" ${PLUME_FLAGS:-} >"$work/plume.txt" || true
	tail -1 "$work/plume.txt"
	columns+=("Plume=$work/plume.json")
else
	columns+=("Plume=")
fi
case "$2" in
-) columns+=("Mosquitto=") ;;
debian)
	conformance/mosquitto.sh --no-interop --json "$work/mosquitto.json" >"$work/mosquitto.txt" || true
	grep -E 'passed, .* failed' "$work/mosquitto.txt" | head -1
	columns+=("Mosquitto=$work/mosquitto.json,$work/mosquitto.restricted.json,$work/mosquitto.strict.json")
	;;
*)
	# shellcheck disable=SC2086
	"$work/conformance" --broker "$2" --json "$work/mosquitto.json" --denied-topic '$SYS/cf' ${MOSQUITTO_FLAGS:-} >"$work/mosquitto.txt" || true
	tail -1 "$work/mosquitto.txt"
	columns+=("Mosquitto=$work/mosquitto.json")
	;;
esac
"$work/conformance" report --out docs/conformance.md "${columns[@]}"
echo "wrote docs/conformance.md"
