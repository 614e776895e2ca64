#!/usr/bin/env bash
# Runs the whole pipeline on embedded defaults (the README's first command): installs a
# nats-server when none is installed, builds the release binary and runs `rae-pipeline up`,
# which starts that nats-server with this repository's nats.conf when none answers at NATS_URL.
# Arguments go to `up` (for example --data-dir DIR or --metrics-listen ADDR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-nats.sh
exec cargo run --release -- up "$@"
