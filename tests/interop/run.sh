#!/usr/bin/env bash
# Runs the interop suite against the built binary (target/debug/pillarbox
# unless PILLARBOX_BIN is set).
set -euo pipefail
cd "$(dirname "$0")"
status=0
for t in test_interop.py test_submission.py test_imap.py test_postfix.py test_crash.py; do
    [ -f "$t" ] || continue
    echo "=== $t"
    python3 "$t" -v || status=1
done
exit $status
