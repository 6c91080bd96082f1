#!/usr/bin/env bash
# Makes sure what funnelwatch needs outside Python exists: a Chromium for the
# browser steps, and (for the tests) Dovecot as a real IMAP server and Debian's
# PostgreSQL server (a throwaway cluster per test session, never the system service).
# Installs Debian packages when running as root with apt; otherwise prints the
# one command to run.
set -euo pipefail
what=${1:-browser}
here=$(cd "$(dirname "$0")/.." && pwd)

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "funnelwatch: installing Debian packages: $*" >&2
    if [ ! -f /tmp/.funnelwatch-apt-updated ]; then
      apt-get update -qq && touch /tmp/.funnelwatch-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "funnelwatch: missing $*; run: sudo apt-get install $*" >&2
    exit 2
  fi
}

case "$what" in
  browser)
    if "$here/.venv/bin/python" -m funnelwatch.browser --quiet 2>/dev/null; then
      exit 0
    fi
    apt_install chromium fonts-liberation
    "$here/.venv/bin/python" -m funnelwatch.browser
    ;;
  imap)
    # The tests' real IMAP server (Dovecot) and the openssl CLI for a self-signed TLS fault.
    need=()
    if [ ! -x /usr/sbin/dovecot ] || [ ! -e /usr/lib/dovecot/lmtp ]; then
      need+=(dovecot-imapd dovecot-lmtpd)
    fi
    command -v openssl >/dev/null || need+=(openssl)
    if [ ${#need[@]} -gt 0 ]; then
      apt_install "${need[@]}"
    fi
    ;;
  postgres)
    # The tests' real PostgreSQL (tests/fixtures/postgres.py runs initdb and postgres from here).
    if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
      apt_install postgresql
    fi
    ;;
  *) echo "usage: $0 browser|imap|postgres" >&2; exit 2 ;;
esac
