#!/usr/bin/env bash
# Runs every test of rae-pipeline, installing what the tests need first: a nats-server binary
# (the tests start their own servers on free loopback ports), git, python3, dovecot-imapd and
# swaks (the email tests), and promtool when it can (the alert rules).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-nats.sh
command -v git >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq git >/dev/null; }
# python3 drives the SMTP tests' second client (smtplib).
command -v python3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
# promtool (Debian's prometheus package) checks the alert rules in deploy/; without it the deploy
# test still checks every file with a parser.
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  install_promtool() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; }
  install_promtool || { apt-get update -qq >/dev/null 2>&1 && install_promtool; } \
    || echo "promtool could not be installed: alert rules are checked by the parser test only" >&2
fi

# dovecot-imapd is the real IMAP server the email tests start; swaks an independent SMTP client.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && { [ ! -x /usr/sbin/dovecot ] || ! command -v swaks >/dev/null 2>&1; }; then
  install_mail() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd swaks >/dev/null 2>&1; }
  install_mail || { apt-get update -qq >/dev/null 2>&1 && install_mail; } \
    || echo "dovecot-imapd or swaks could not be installed: the IMAP tests will fail" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets
