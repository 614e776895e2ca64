#!/usr/bin/env bash
# Runs every test of rae-pipeline, installing what the tests need first: a nats-server binary
# (the tests start their own servers on free loopback ports), git, python3, dovecot-imapd and
# swaks (the email tests), promtool (the alert rules; scripts/install-promtool.sh), the
# official MCP Python SDK (PyPI `mcp`, the MCP tests' client), and Node with npm (the TypeScript
# producer example, examples/ts_producer, with its pinned dev dependencies, and the MCP Inspector,
# the MCP tests' second client, pinned by tests/it/mcp/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-nats.sh
command -v git >/dev/null 2>&1 || { echo "installing Debian's git" >&2; apt-get update -qq && apt-get install -y -qq git >/dev/null; }
# python3 drives the SMTP tests' second client (smtplib).
command -v python3 >/dev/null 2>&1 || { echo "installing Debian's python3" >&2; apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
# pip installs the PyPI packages below.
python3 -m pip --version >/dev/null 2>&1 || { echo "installing Debian's python3-pip" >&2; apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null; }
# A Debian python3 refuses pip installs outside a venv (PEP 668) unless told.
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" >&2 || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@" >&2; }
# The PyPI packages the tests run, pinned to the versions the tests were verified with:
# nats-py, the Python consumer example's NATS client (examples/python_digest), and mcp, the
# official MCP Python SDK, the MCP tests' independent client. Installed when missing or
# another version is there.
pip_pinned() { # package version why
  if ! python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1; then
    echo "installing PyPI's $1 $2 ($3)" >&2
    pip_install "$1==$2" || echo "$1 $2 could not be installed: $3 will fail" >&2
  fi
}
pip_pinned nats-py 2.16.0 "the Python consumer example's tests"
pip_pinned mcp 2.3.0 "the MCP SDK tests"
# promtool checks the alert rules in deploy/; the script installs that one binary and says so.
bash scripts/install-promtool.sh

# dovecot-imapd is the real IMAP server the email tests start; swaks an independent SMTP client.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && { [ ! -x /usr/sbin/dovecot ] || ! command -v swaks >/dev/null 2>&1; }; then
  echo "installing Debian's dovecot-imapd and swaks (the email tests' IMAP server and SMTP client)" >&2
  install_mail() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd swaks >/dev/null 2>&1; }
  install_mail || { apt-get update -qq >/dev/null 2>&1 && install_mail; } \
    || echo "dovecot-imapd or swaks could not be installed: the IMAP tests will fail" >&2
fi

# Node and npm build the TypeScript producer example, which the integration tests run. `npm ci`
# installs exactly its package-lock.json: TypeScript, openapi-typescript, Prettier, Node's types.
if ! command -v npm >/dev/null 2>&1; then
  echo "installing Debian's nodejs and npm (the TypeScript producer example)" >&2
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --prefix examples/ts_producer --no-audit --no-fund --loglevel=error >&2
# Its API types are generated from contracts/openapi.json, then type-checked (tsc --noEmit,
# strict) and format-checked (prettier --check).
npm run --prefix examples/ts_producer --silent check

# The MCP Inspector's CLI is the MCP tests' second client (tests/it/mcp/inspector.rs): npm ci
# installs the version tests/it/mcp/package-lock.json pins into tests/it/mcp/node_modules (not
# committed), without install scripts; nothing is downloaded while the tests run. It declares
# Node >= 22.19; its CLI runs on Debian's Node 20 too (npm warns EBADENGINE).
mcp_clients=tests/it/mcp
if [ ! -x "$mcp_clients/node_modules/.bin/mcp-inspector" ] \
  || [ "$mcp_clients/package-lock.json" -nt "$mcp_clients/node_modules/.package-lock.json" ]; then
  echo "installing the MCP Inspector (npm ci in $mcp_clients, the MCP tests' second client)" >&2
  npm ci --prefix "$mcp_clients" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi

# The VS Code extension (extensions/vscode) and its end-to-end test (tests/it/vscode.rs). npm ci
# installs the extension's pinned dev dependencies (TypeScript, esbuild, Prettier, @vscode/vsce
# 3.9.2, the last for Node 20); then its type check (tsc, strict), format check (prettier
# --check), unit tests (node --test) and the .vsix the test installs
# (extensions/vscode/dist/rae-memory.vsix). The test runs code-server 4.100.3 (VS Code 1.100.3,
# the last for Node 20) and playwright-core 1.65, pinned by tests/it/vscode/package-lock.json, in
# Debian's chromium.
command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium (the browser tests' real browser)" >&2; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
if ! dpkg -s libkrb5-dev >/dev/null 2>&1 || ! command -v rg >/dev/null 2>&1; then
  # code-server's install builds a Kerberos module (libkrb5-dev) and ships ripgrep (below).
  echo "installing Debian's libkrb5-dev and ripgrep (code-server's install)" >&2
  apt-get update -qq && apt-get install -y -qq libkrb5-dev ripgrep >/dev/null
fi
npm ci --prefix extensions/vscode --no-audit --no-fund --loglevel=error >&2
npm run --prefix extensions/vscode --silent check
npm run --prefix extensions/vscode --silent test >&2
npm run --prefix extensions/vscode --silent package >&2
vscode_tools=tests/it/vscode
if [ ! -x "$vscode_tools/node_modules/.bin/code-server" ] \
  || [ "$vscode_tools/package-lock.json" -nt "$vscode_tools/node_modules/.package-lock.json" ]; then
  echo "installing code-server and playwright-core (npm ci in $vscode_tools, about a minute)" >&2
  # @vscode/ripgrep's install downloads rg from GitHub unless its cache holds the archive it
  # wants: Debian's rg packed under that name works, offline.
  rg_cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11"
  rg_archive="$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
  if [ ! -f "$rg_archive" ]; then
    mkdir -p "$rg_cache" && tar -czf "$rg_archive" -C "$(dirname "$(command -v rg)")" rg
  fi
  # npm_config_yes: node-pty's install runs npx, which an npmrc's `yes = false` cancels;
  # --unsafe-perm: install scripts run as root.
  npm_config_yes=true npm ci --prefix "$vscode_tools" --unsafe-perm --no-audit --no-fund --loglevel=error >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets
