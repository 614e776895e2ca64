#!/usr/bin/env bash
# Installs promtool, which checks the alert rules in deploy/, when it is missing: only the one
# binary, taken from Debian's prometheus package (the Prometheus server, its web assets and its
# service are not installed). Without apt-get or root it says so and does nothing; the deploy
# test then checks the rules with a parser alone.
set -euo pipefail

command -v promtool >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "promtool is not installed (needs apt-get and root): alert rules are checked by the parser test only" >&2
  exit 0
fi
echo "installing promtool into /usr/local/bin (extracted from Debian's prometheus package; the server is not installed)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
download() { (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); }
if download || { apt-get update -qq >/dev/null 2>&1 && download; }; then
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
  echo "installed $(promtool --version 2>&1 | head -1)" >&2
else
  echo "promtool could not be downloaded: alert rules are checked by the parser test only" >&2
fi
