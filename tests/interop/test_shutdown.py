"""Graceful shutdown: SIGTERM while SMTP sessions deliver and one client is
in the middle of its message data. The process exits 0 within a bounded
time; the half-sent message gets `421` (never `250`); every message that got
`250` is present after a restart, exactly once; `pillarbox check` passes;
idle IMAP and POP3 sessions are told goodbye."""

import signal
import socket
import time
import unittest

from common import PORTS, Pillarbox, SmtpLoad, message_ids_in_inbox

PW = "shutdown-test-password"
SENDERS = 6
EXIT_BOUND_SECS = 15


def read_reply(f):
    """One complete SMTP reply (all its lines)."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            return "".join(lines)
        lines.append(line.decode())
        if len(line) < 4 or line[3:4] != b"-":
            return "".join(lines)


class ShutdownTests(unittest.TestCase):
    def test_sigterm_finishes_or_aborts_cleanly_and_loses_nothing(self):
        pb = Pillarbox(plaintext_auth=False).start()
        try:
            pb.add_user("alice@example.org", PW)
            # A client stopped in the middle of its message data.
            half = socket.create_connection(("127.0.0.1", PORTS["smtp"]), timeout=30)
            hf = half.makefile("rb")
            self.assertTrue(read_reply(hf).startswith("220"))
            for cmd in (b"EHLO half.test\r\n", b"MAIL FROM:<h@remote.test>\r\n",
                        b"RCPT TO:<alice@example.org>\r\n", b"DATA\r\n"):
                half.sendall(cmd)
                self.assertIn(read_reply(hf)[:1], "23", cmd)
            half.sendall(b"Subject: never acknowledged\r\nMessage-ID: <half@remote.test>\r\n\r\npart")

            # Idle IMAP and POP3 sessions.
            imap = socket.create_connection(("127.0.0.1", PORTS["imap"]), timeout=30)
            imf = imap.makefile("rb")
            self.assertTrue(imf.readline().startswith(b"* OK"))
            pop = socket.create_connection(("127.0.0.1", PORTS["pop3"]), timeout=30)
            pof = pop.makefile("rb")
            self.assertTrue(pof.readline().startswith(b"+OK"))

            load = SmtpLoad("term", SENDERS, lines=40, timeout=20).start()
            load.wait_acked(100, timeout=60)

            started = time.monotonic()
            pb.proc.send_signal(signal.SIGTERM)
            # The half-sent message is refused with 421, never 250.
            reply = read_reply(hf)
            self.assertTrue(reply.startswith("421 4.3.2 "), reply)
            self.assertEqual(hf.readline(), b"", "connection closed after 421")
            self.assertTrue(imf.readline().startswith(b"* BYE"))
            self.assertTrue(pof.readline().startswith(b"-ERR [SYS/TEMP]"))
            code = pb.proc.wait(timeout=EXIT_BOUND_SECS)
            elapsed = time.monotonic() - started
            pb.proc = None
            self.assertEqual(code, 0, "exit status after SIGTERM")
            self.assertLess(elapsed, EXIT_BOUND_SECS)
            load.stop()
            for s in (half, imap, pop):
                s.close()
            acknowledged = load.acked()
            self.assertGreater(len(acknowledged), 0)

            pb.start()
            seen = message_ids_in_inbox("alice@example.org", PW)
            missing = [m for m in acknowledged if seen[m] == 0]
            self.assertEqual(missing, [], f"{len(missing)} acknowledged messages lost")
            self.assertEqual([m for m, c in seen.items() if c > 1], [], "duplicates")
            self.assertEqual(seen["<half@remote.test>"], 0, "half-sent message stored")
            r = pb.cli("check", check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            print(f"\nshutdown: {len(acknowledged)} acknowledged, exit after {elapsed:.2f}s")
        finally:
            pb.stop()


if __name__ == "__main__":
    unittest.main()
