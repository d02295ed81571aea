#!/usr/bin/env bash
# Soak test: mixed SMTP/IMAP/POP3 load on loopback for DURATION seconds
# (default 600), with state checking; prints a JSON report (errors, RSS
# growth, p50/p99 latencies) and exits non-zero on any error.
#   DURATION=120 bench/soak.sh
#   PILLARBOX_BIN=target/release/pillarbox bench/soak.sh
# Workers: SMTP_WORKERS (3), IMAP_WORKERS (3), POP3_WORKERS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PILLARBOX_BIN:-}" ]; then
    if [ -x target/release/pillarbox ]; then
        export PILLARBOX_BIN="$PWD/target/release/pillarbox"
    else
        export PILLARBOX_BIN="$PWD/target/debug/pillarbox"
    fi
fi
[ -x "$PILLARBOX_BIN" ] || { echo "build pillarbox first (cargo build --bin pillarbox)" >&2; exit 2; }
echo "soak: $PILLARBOX_BIN for ${DURATION:-600}s" >&2
exec python3 -W ignore bench/soak.py
