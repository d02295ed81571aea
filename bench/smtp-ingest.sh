#!/bin/sh
# SMTP ingest benchmark: Pillarbox vs. Postfix + Dovecot, side by side in
# one run (DESIGN.md §9). See bench/README.md.
#
#   sudo bench/smtp-ingest.sh                 # N=10000, 1 and 20 sessions
#   N=2000 SESSIONS="1 20" bench/smtp-ingest.sh
#   SETUPS=pair N=2000 bench/smtp-ingest.sh   # only Postfix+Dovecot
#
# Every instance is private (temp config, queue, mail store, loopback ports)
# and is stopped on exit, on error and on Ctrl-C. Nothing in /etc/postfix or
# /etc/dovecot is read or changed; no system service is started.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "smtp-ingest: must run as root (Postfix and Dovecot masters start as root)" >&2
    exit 1
fi
for cmd in python3 postfix dovecot smtp-source; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || {
        echo "smtp-ingest: $cmd not found (apt-get install postfix dovecot-core dovecot-lmtpd)" >&2
        exit 1
    }
done

# Mail stores must be on a real disk: fsync on tmpfs is free and would make
# the comparison meaningless.
: "${TMPDIR:=/var/tmp}"
export TMPDIR
fstype=$(stat -f -c %T "$TMPDIR")
case "$fstype" in
    tmpfs|ramfs) echo "smtp-ingest: TMPDIR=$TMPDIR is $fstype; set TMPDIR to a directory on disk" >&2
                 exit 1 ;;
esac

PYTHONDONTWRITEBYTECODE=1 python3 "$here/smtp_ingest.py" "$@" &
pid=$!
# Forward Ctrl-C/TERM to the driver (it stops its instances itself), wait.
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 130' INT TERM HUP
wait $pid
