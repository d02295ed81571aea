"""Crash safety: several concurrent SMTP sessions deliver while the server is
killed with SIGKILL; after a restart every message that got 250 is present
exactly once and `pillarbox check` passes."""

import collections
import email
import poplib
import smtplib
import threading
import time
import unittest

from common import PORTS, Pillarbox, insecure_context

PW = "crash-test-password"
SENDERS = 8


class CrashTests(unittest.TestCase):
    def test_kill9_mid_stream_loses_nothing_acknowledged(self):
        pb = Pillarbox(plaintext_auth=False).start()
        try:
            pb.add_user("alice@example.org", PW)
            acked = []
            lock = threading.Lock()
            stop = threading.Event()

            def sender(n):
                i = 0
                while not stop.is_set():
                    try:
                        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=10) as s:
                            while not stop.is_set():
                                mid = f"<crash-{n}-{i}@remote.test>"
                                msg = (
                                    f"From: bob@remote.test\r\nTo: alice@example.org\r\n"
                                    f"Subject: crash {n} {i}\r\nMessage-ID: {mid}\r\n\r\n"
                                    + ("x" * 70 + "\r\n") * 50
                                )
                                s.sendmail("bob@remote.test", ["alice@example.org"], msg)
                                with lock:
                                    acked.append(mid)
                                i += 1
                    except (OSError, smtplib.SMTPException):
                        return

            threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with lock:
                    if len(acked) >= 200:
                        break
                time.sleep(0.05)
            pb.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            with lock:
                acknowledged = list(acked)
            self.assertGreater(len(acknowledged), 0, "nothing was delivered before the kill")

            pb.start()
            p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=60)
            p.stls(context=insecure_context())
            p.user("alice@example.org")
            p.pass_(PW)
            seen = collections.Counter()
            for i in range(1, p.stat()[0] + 1):
                raw = b"\r\n".join(p.top(i, 0)[1])
                seen[email.message_from_bytes(raw)["Message-ID"]] += 1
            p.quit()
            missing = [m for m in acknowledged if seen[m] == 0]
            dups = [m for m, c in seen.items() if c > 1]
            self.assertEqual(missing, [], f"{len(missing)} acknowledged messages lost")
            self.assertEqual(dups, [], "duplicated messages")
            r = pb.cli("check", check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            print(f"\ncrash test: {len(acknowledged)} acknowledged, {sum(seen.values())} stored")
        finally:
            pb.stop()


if __name__ == "__main__":
    unittest.main()
