"""Forwarding aliases with the real binary: mail from another MTA (Python
smtplib on the MX listener) for an alias with a local and a remote target
is delivered to the local INBOX and relayed by the outbound queue to a
sink MX (smtp_sink.py through a `[[queue.route]]`) with the original
envelope sender, an ORCPT naming the alias and a `Delivered-To:` field;
a message that comes back for the alias is refused with 554 5.4.6, and
the remote target itself stays unreachable from the MX listener (no open
relay).

    python3 tests/interop/test_forward.py -v
"""

import poplib
import smtplib
import unittest

from common import PORTS, Pillarbox, wait_for
from smtp_sink import Sink

PW = "forward-test-password"
ALICE = "alice@example.org"


def config(port):
    return f"""
[queue]
retry_initial_secs = 1
retry_max_secs = 1
poll_interval_secs = 1
[[queue.route]]
domain = "sink.example"
host = "127.0.0.1"
port = {port}
"""


class ForwardTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink(dsn=True)
        cls.pb = Pillarbox(extra_config=config(cls.sink.port)).start()
        cls.pb.add_user(ALICE, PW)
        cls.pb.cli("alias", "add", "info@example.org", ALICE)
        cls.pb.cli("alias", "add", "info@example.org", "bob@sink.example")

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()
        cls.sink.close()

    def mx(self):
        s = smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30)
        s.ehlo("mta.example.net")
        return s

    def test_alias_list_marks_the_forward(self):
        out = self.pb.cli("alias", "list").stdout
        self.assertIn("bob@sink.example (forward)", out)
        self.assertIn(ALICE, out)

    def test_forwarded_to_the_remote_target_and_delivered_locally(self):
        s = self.mx()
        s.sendmail("carol@example.net", ["info@example.org"],
                   "From: carol@example.net\r\nTo: info@example.org\r\n"
                   "Message-ID: <fwd-1@example.net>\r\nSubject: forward me\r\n\r\nhello\r\n")
        s.quit()
        wait_for(lambda: self.sink.received[("<fwd-1@example.net>", "bob@sink.example")] >= 1,
                 what="the forwarded copy at the sink")
        with self.sink.lock:
            raw = [d for r, d in self.sink.messages if "<fwd-1@example.net>" in d][0]
            commands = list(self.sink.commands)
        self.assertTrue(raw.startswith("Delivered-To: info@example.org\r\n"), raw)
        self.assertIn("MAIL FROM:<carol@example.net>", "\n".join(commands))
        self.assertTrue(any(c.startswith("RCPT TO:<bob@sink.example>") and
                            "ORCPT=rfc822;info@example.org" in c for c in commands), commands)
        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
        try:
            p.user(ALICE)
            p.pass_(PW)
            bodies = [b"\r\n".join(p.retr(i)[1]) for i in range(1, p.stat()[0] + 1)]
        finally:
            p.quit()
        self.assertTrue(any(b"<fwd-1@example.net>" in b for b in bodies))

    def test_loop_is_refused(self):
        s = self.mx()
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            s.sendmail("carol@example.net", ["info@example.org"],
                       "Delivered-To: info@example.org\r\nFrom: carol@example.net\r\n"
                       "Subject: came back\r\n\r\nloop\r\n")
        s.quit()
        self.assertEqual(cm.exception.smtp_code, 554)
        self.assertIn(b"5.4.6", cm.exception.smtp_error)

    def test_no_open_relay_to_the_target(self):
        s = self.mx()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.sendmail("carol@example.net", ["bob@sink.example"], "Subject: relay\r\n\r\nx\r\n")
        s.quit()
        code, _ = cm.exception.recipients["bob@sink.example"]
        self.assertEqual(code, 554)


if __name__ == "__main__":
    unittest.main()
