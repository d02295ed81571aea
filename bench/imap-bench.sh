#!/bin/sh
# IMAP benchmark: Pillarbox vs. Dovecot, side by side in one run
# (DESIGN.md §9). See bench/README.md.
#
#   cargo build --release --bin pillarbox
#   cargo build --release -p pillarbox-bench-imap
#   sudo bench/imap-bench.sh                          # mix, big, idle
#   PARTS=mix CLIENTS=10 DURATION=30 bench/imap-bench.sh
#   PARTS=big BIG_N=100000 bench/imap-bench.sh
#   PARTS=idle IDLE_CONNS=10000 DOVECOT_IDLE_CONNS=1000 bench/imap-bench.sh
#
# Every instance is private (temp config, mail store, loopback ports) and is
# stopped on exit, on error and on Ctrl-C. Nothing in /etc/dovecot is read
# or changed; no system service is started.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "imap-bench: must run as root (the Dovecot master starts as root)" >&2
    exit 1
fi
for cmd in python3 dovecot openssl; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || {
        echo "imap-bench: $cmd not found (apt-get install dovecot-core dovecot-imapd openssl)" >&2
        exit 1
    }
done

# Mail stores must be on a real disk: fsync on tmpfs is free.
: "${TMPDIR:=/var/tmp}"
export TMPDIR
fstype=$(stat -f -c %T "$TMPDIR")
case "$fstype" in
    tmpfs|ramfs) echo "imap-bench: TMPDIR=$TMPDIR is $fstype; set TMPDIR to a directory on disk" >&2
                 exit 1 ;;
esac

PYTHONDONTWRITEBYTECODE=1 python3 "$here/imap_bench.py" "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 130' INT TERM HUP
wait $pid
