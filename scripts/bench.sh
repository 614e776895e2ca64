#!/usr/bin/env bash
# Runs the side-by-side benchmark of docs/benchmarks.md: installs what it needs (wrk, a
# nats-server), builds the release binary and benches/pipeline/, runs every phase, prints the
# table and rewrites the generated part of docs/benchmarks.md.
#
#   bash scripts/bench.sh                 # full run (about 6 minutes on 2 cores, plus the build)
#   bash scripts/bench.sh --quick         # shorter measurements, one round
#   bash scripts/bench.sh --phases ingress --connections 64 --no-doc
#
# Options after the script name go to the benchmark (see `--help`). Close other heavy work
# first: every figure is a ratio against a baseline measured in the same run, but a neighbour
# that comes and goes between a baseline and its pipeline run still skews that pair.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "please install: $*" >&2
    exit 2
  fi
}

command -v wrk >/dev/null 2>&1 || { echo "wrk not found: installing it" >&2; install wrk; }
bash scripts/install-nats.sh

# The bench profile is the release profile: this builds target/release/rae-pipeline too.
exec cargo bench --bench pipeline -- "$@"
