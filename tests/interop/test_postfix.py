"""Interop with Postfix as the peer MTA: a private Postfix instance (see
postfix.py) relays example.org into the real pillarbox binary over SMTP
(with STARTTLS) and over LMTP; the mail is then read back over POP3. Needs
root and the Debian postfix package; skipped otherwise.

    python3 tests/interop/test_postfix.py -v
"""

import atexit
import email
import email.policy
import os
import poplib
import signal
import socket
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BIN, PORTS, Pillarbox, insecure_context, wait_for  # noqa: E402
from postfix import PrivatePostfix, available  # noqa: E402

PW = "correct horse battery staple"


def free_ports(n):
    """n distinct free loopback ports (like common.PORTS: chosen once per
    process, so parallel runs do not collide)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# The private Postfix instances' listeners.
SMTP_RELAY_PORT, LMTP_RELAY_PORT = free_ports(2)

SKIP = available()
if not SKIP and not os.path.exists(BIN):
    SKIP = f"pillarbox binary {BIN} is not built (cargo build)"


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def message(subject, to="alice@example.org"):
    # No Date or Message-ID: Postfix adds them, as for any remote client.
    return (f"From: bob@remote.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n"
            f"Relayed by Postfix in the interop suite.\r\n")


@unittest.skipIf(SKIP, SKIP or "")
class PostfixRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Pillarbox.start() only waits for the ports to open: if another
        # interop run holds them we would silently test that server.
        busy = [p for p in (*PORTS.values(), SMTP_RELAY_PORT, LMTP_RELAY_PORT) if not port_free(p)]
        if busy:
            raise RuntimeError(f"ports {busy} are in use (another interop run?)")
        cls.pb = Pillarbox(plaintext_auth=False)
        cls.addClassCleanup(cls.pb.stop)
        atexit.register(cls.pb.stop)  # also on an interrupted run
        cls.pb.start()
        if cls.pb.proc.poll() is not None:
            raise RuntimeError(f"pillarbox exited: {cls.pb.server_log()}")
        cls.pb.add_user("alice@example.org", PW)
        cls.pb.add_user("carol@example.org", PW)
        cls.via_smtp = PrivatePostfix("example.org", "smtp", SMTP_RELAY_PORT, PORTS["smtp"])
        cls.addClassCleanup(cls.via_smtp.stop)
        cls.via_smtp.start()
        cls.via_lmtp = PrivatePostfix("example.org", "lmtp", LMTP_RELAY_PORT, PORTS["lmtp"])
        cls.addClassCleanup(cls.via_lmtp.stop)
        cls.via_lmtp.start()

    # -- helpers ---------------------------------------------------------

    def fetch(self, subject, user="alice@example.org", timeout=30):
        """Wait until a message with this subject is in the user's mailbox
        (POP3 with STLS); return it parsed."""
        found = []

        def look():
            p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
            try:
                p.stls(context=insecure_context())
                p.user(user)
                p.pass_(PW)
                for i in range(p.stat()[0], 0, -1):
                    raw = b"\r\n".join(p.retr(i)[1])
                    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
                    if msg["Subject"] == subject:
                        found.append(msg)
                        return True
                return False
            finally:
                p.quit()

        wait_for(look, timeout=timeout, what=f"{subject!r} in {user}'s mailbox")
        return found[0]

    def assert_relayed(self, pf, port, subject, user="alice@example.org"):
        qid = pf.send("bob@remote.test", user, message(subject, to=user))
        self.assertTrue(qid)
        m = pf.wait_log(rf"{qid}: to=<{user}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port},"
                        rf".*status=(\w+) \((.*)\)")
        self.assertEqual(m.group(1), "sent", m.group(0))
        self.assertIn("250", m.group(2))
        msg = self.fetch(subject, user)
        received = msg.get_all("Received") or []
        postfix_hops = [r for r in received if "by mx.relay.test (Postfix)" in r and qid in r]
        self.assertEqual(len(postfix_hops), 1, received)
        # Pillarbox's own trace header is on top of Postfix's.
        self.assertNotIn("(Postfix)", received[0], received)
        self.assertEqual(msg["From"], "bob@remote.test")
        self.assertTrue(msg["Message-ID"], "Postfix adds a Message-ID")
        self.assertIn("Relayed by Postfix", msg.get_payload())
        return qid

    # -- tests -----------------------------------------------------------

    def test_relay_over_smtp_with_starttls(self):
        self.assert_relayed(self.via_smtp, PORTS["smtp"], f"via postfix smtp {uuid.uuid4()}")
        # smtp_tls_security_level = may: Postfix used Pillarbox's STARTTLS
        # (self-signed, hence "Untrusted"/"Anonymous").
        self.via_smtp.wait_log(r"(Untrusted|Anonymous|Trusted|Verified) TLS connection "
                               rf"established to 127\.0\.0\.1\[127\.0\.0\.1\]:{PORTS['smtp']}")
        self.via_smtp.wait_queue_empty()

    def test_relay_over_lmtp(self):
        self.assert_relayed(self.via_lmtp, PORTS["lmtp"], f"via postfix lmtp {uuid.uuid4()}")
        self.via_lmtp.wait_queue_empty()

    def assert_bounced(self, pf, port, user="nobody@example.org"):
        qid = pf.send("bob@remote.test", user, message(f"to nobody {uuid.uuid4()}", to=user))
        self.assertTrue(qid)
        m = pf.wait_log(rf"{qid}: to=<{user}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port},"
                        rf".*dsn=([0-9.]+), status=(\w+) \((.*)\)")
        self.assertEqual(m.group(2), "bounced", m.group(0))
        self.assertEqual(m.group(1), "5.1.1", m.group(0))
        self.assertIn("550 5.1.1", m.group(3))
        # Postfix turned it into a bounce to the sender and is done with it.
        pf.wait_log(rf"{qid}: sender non-delivery notification: ")
        pf.wait_queue_empty()

    def test_unknown_recipient_bounces_at_postfix_over_smtp(self):
        self.assert_bounced(self.via_smtp, PORTS["smtp"])

    def test_unknown_recipient_bounces_at_postfix_over_lmtp(self):
        self.assert_bounced(self.via_lmtp, PORTS["lmtp"])

    def test_lmtp_mixed_recipients_one_delivered_one_bounced(self):
        subject = f"mixed lmtp {uuid.uuid4()}"
        qid = self.via_lmtp.send("bob@remote.test", ["carol@example.org", "nobody@example.org"],
                                 message(subject, to="carol@example.org, nobody@example.org"))
        self.assertTrue(qid)
        port = PORTS["lmtp"]
        ok = self.via_lmtp.wait_log(rf"{qid}: to=<carol@example.org>, relay=127\.0\.0\.1"
                                    rf"\[127\.0\.0\.1\]:{port},.*status=(\w+)")
        self.assertEqual(ok.group(1), "sent", ok.group(0))
        bad = self.via_lmtp.wait_log(rf"{qid}: to=<nobody@example.org>, relay=127\.0\.0\.1"
                                     rf"\[127\.0\.0\.1\]:{port},.*status=(\w+) \((.*)\)")
        self.assertEqual(bad.group(1), "bounced", bad.group(0))
        self.assertIn("550 5.1.1", bad.group(2))
        self.fetch(subject, "carol@example.org")
        self.via_lmtp.wait_queue_empty()


def _interrupt(signum, _frame):
    # Let SIGTERM (e.g. from `timeout`) unwind like Ctrl-C, so the private
    # Postfix instances and the server are stopped at exit.
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    unittest.main()
