#!/usr/bin/env bash
# The history-import measurement of docs/benchmarks.md: `rae-pipeline import github` (release
# build) imports 5,000 issues and 5,000 comments from a fake GitHub REST API (100 items a page)
# into a local nats-server, then runs again (conditional requests only). Prints, per run, the
# events, requests, seconds and the importer's peak memory (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
  apt-get install -y time >/dev/null
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
cargo test --release --test it import::measure_importing_ten_thousand_issues_and_comments \
  -- --ignored --nocapture 2>&1 | grep -E '^(first import|re-run)|test result'
