#!/usr/bin/env bash
# fuzz.sh FUZZTIME: runs every fuzz target for FUZZTIME and copies the inputs the
# fuzzer found interesting from Go's cache into the package's testdata/fuzz, so
# the corpus grows in the repository (commit it).
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
cache=$(go env GOCACHE)/fuzz
module=$(go list -m)
for target in \
  ./core/packets:FuzzDecode \
  ./core/broker:FuzzReaderFraming \
  ./core/topics:FuzzMatch \
  ./core/topics:FuzzValidateFilter \
  ./cmd/plume/internal/config:FuzzParse; do
  pkg=${target%%:*} name=${target##*:}
  # Minimising a large interesting input can take minutes with no progress
  # shown; a bounded minimisation keeps the run to FUZZTIME per target.
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 5s "$pkg"
  found="$cache/$module/${pkg#./}/$name"
  if [ -d "$found" ]; then
    mkdir -p "$pkg/testdata/fuzz/$name"
    cp -n "$found"/* "$pkg/testdata/fuzz/$name/" 2>/dev/null || true
  fi
done
