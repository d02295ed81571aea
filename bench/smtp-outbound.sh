#!/bin/sh
# Outbound benchmark: Pillarbox's queue vs. Postfix relaying the same load
# to a local smtp-sink, side by side in one run; then submission
# connections/s (STARTTLS, with and without AUTH). See bench/README.md.
#
#   sudo bench/smtp-outbound.sh                    # N=10000
#   N=2000 bench/smtp-outbound.sh                  # shorter
#   PARTS=submission CONNS=500 bench/smtp-outbound.sh
#
# Every instance is private (temp config, queue, loopback ports) and is
# stopped on exit, on error and on Ctrl-C. Nothing in /etc/postfix is read
# or changed; no system service is started.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "smtp-outbound: must run as root (the Postfix master and smtp-sink start as root)" >&2
    exit 1
fi
for cmd in python3 postfix smtp-sink openssl; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || {
        echo "smtp-outbound: $cmd not found (apt-get install postfix openssl)" >&2
        exit 1
    }
done

# Queues must be on a real disk: fsync on tmpfs is free and would make the
# comparison meaningless.
: "${TMPDIR:=/var/tmp}"
export TMPDIR
fstype=$(stat -f -c %T "$TMPDIR")
case "$fstype" in
    tmpfs|ramfs) echo "smtp-outbound: TMPDIR=$TMPDIR is $fstype; set TMPDIR to a directory on disk" >&2
                 exit 1 ;;
esac

PYTHONDONTWRITEBYTECODE=1 python3 "$here/smtp_outbound.py" "$@" &
pid=$!
# Forward Ctrl-C/TERM to the driver (it stops its instances itself), wait.
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 130' INT TERM HUP
wait $pid
