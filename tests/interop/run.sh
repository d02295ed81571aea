#!/usr/bin/env bash
# Runs the interop suite against the built binary (target/debug/pillarbox
# unless PILLARBOX_BIN is set).
set -euo pipefail
cd "$(dirname "$0")"
status=0
for t in test_interop.py test_submission.py test_imap.py test_imapclient.py test_imap_tools.py test_postfix.py test_crash.py test_crash_mailbox.py test_shutdown.py test_security.py test_queue.py test_forward.py test_clients.py; do
    [ -f "$t" ] || continue
    echo "=== $t"
    python3 "$t" -v || status=1
done
# dkimpy comes from Debian (python3-dkim, python3-nacl): the system Python.
echo "=== test_dkim.py"
/usr/bin/python3 test_dkim.py -v || status=1
# MX delivery through a test DNS server (python3-dnslib) to a private
# Postfix on 127.0.0.2:25: the system Python too (dnslib, dkimpy).
echo "=== test_mx.py"
/usr/bin/python3 test_mx.py -v || status=1
exit $status
