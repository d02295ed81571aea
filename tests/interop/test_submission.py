"""Submission interop (RFC 6409 / RFC 4954 / RFC 8314): Python's smtplib
and swaks, real clients we did not write, submit to the real binary over
STARTTLS (port-587 style) and implicit TLS (port-465 style), with each
mechanism they support; delivery is checked over POP3.

    python3 tests/interop/test_submission.py -v
"""

import email
import poplib
import smtplib
import subprocess
import unittest
import uuid

from common import PORTS, Pillarbox, insecure_context

PW = "correct horse battery staple"
BOB_PW = "tr0ub4dor&3"
ALICE = "alice@example.org"
BOB = "bob@example.org"


def message(subject, sender=ALICE, to=BOB, extra=""):
    return (
        f"From: Alice <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n{extra}"
        f"\r\nHello from the submission interop suite.\r\n"
    )


class Submission(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pb = Pillarbox(plaintext_auth=False).start()
        cls.pb.add_user(ALICE, PW)
        cls.pb.add_user(BOB, BOB_PW)
        cls.pb.cli("alias", "add", "sales@example.org", ALICE)

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()

    # --- helpers ---

    def starttls(self):
        s = smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=30)
        s.ehlo("client.example.net")
        s.starttls(context=insecure_context())
        s.ehlo("client.example.net")
        return s

    def implicit(self):
        s = smtplib.SMTP_SSL("127.0.0.1", PORTS["submissions"], timeout=30,
                             context=insecure_context())
        s.ehlo("client.example.net")
        return s

    def bob_messages(self):
        """Bob's INBOX over POP3 with STLS: a list of email.message objects."""
        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
        try:
            p.stls(context=insecure_context())
            p.user(BOB)
            p.pass_(BOB_PW)
            return [email.message_from_bytes(b"\r\n".join(p.retr(i)[1]))
                    for i in range(1, p.stat()[0] + 1)]
        finally:
            p.quit()

    def bob_message(self, subject):
        found = [m for m in self.bob_messages() if m["Subject"] == subject]
        self.assertEqual(len(found), 1, f"{subject!r} in Bob's INBOX")
        return found[0]

    def unique(self, name):
        return f"{name} {uuid.uuid4().hex[:8]}"

    # --- smtplib ---

    def test_auth_hidden_before_starttls(self):
        with smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=30) as s:
            s.ehlo("client.example.net")
            self.assertTrue(s.has_extn("starttls"))
            self.assertFalse(s.has_extn("auth"))
            with self.assertRaises(smtplib.SMTPNotSupportedError):
                s.login(ALICE, PW)
            code, _ = s.mail(ALICE)
            self.assertEqual(code, 530)
            s.starttls(context=insecure_context())
            s.ehlo("client.example.net")
            self.assertFalse(s.has_extn("starttls"))
            # TLS 1.3 gives the RFC 9266 tls-exporter channel binding.
            self.assertEqual(s.esmtp_features["auth"].split(),
                             ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"])

    def test_smtplib_starttls_each_mechanism(self):
        # (mechanism, authobject name, initial response or continuation)
        cases = [("PLAIN", "auth_plain", True), ("PLAIN", "auth_plain", False),
                 ("LOGIN", "auth_login", True), ("LOGIN", "auth_login", False)]
        subjects = []
        for mechanism, method, initial in cases:
            subject = self.unique(f"starttls {mechanism} ir={initial}")
            with self.starttls() as s:
                s.user, s.password = ALICE, PW
                code, _ = s.auth(mechanism, getattr(s, method),
                                 initial_response_ok=initial)
                self.assertEqual(code, 235)
                s.sendmail(ALICE, [BOB], message(subject))
            subjects.append(subject)
        for subject in subjects:
            m = self.bob_message(subject)
            received = m["Received"]
            self.assertIn("ESMTPSA", received)
            self.assertIn("authenticated as alice@example.org", received)
            # RFC 6409 §8.2, §8.3: the MSA adds what the client left out.
            self.assertIsNotNone(m["Date"])
            self.assertTrue(m["Message-ID"].endswith("@mail.example.org>"))

    def test_smtplib_login_picks_a_mechanism(self):
        subject = self.unique("login()")
        with self.starttls() as s:
            s.login(ALICE, PW)
            s.sendmail(ALICE, [BOB], message(subject))
        self.bob_message(subject)

    def test_smtp_ssl_implicit_tls(self):
        subject = self.unique("implicit tls")
        with self.implicit() as s:
            self.assertFalse(s.has_extn("starttls"))
            self.assertTrue(s.has_extn("auth"))
            s.login(ALICE, PW)
            s.sendmail("sales@example.org", [BOB],
                       message(subject, sender="sales@example.org"))
        m = self.bob_message(subject)
        self.assertIn("sales@example.org", m["From"])

    def test_wrong_password_is_535(self):
        with self.implicit() as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.login(ALICE, "wrong")
            self.assertEqual(e.exception.smtp_code, 535)

    def test_sender_checks(self):
        with self.implicit() as s:
            s.login(ALICE, PW)
            # MAIL FROM another user's address: 553 5.7.1.
            with self.assertRaises(smtplib.SMTPSenderRefused) as e:
                s.sendmail(BOB, [BOB], message("forged envelope", sender=BOB))
            self.assertEqual(e.exception.smtp_code, 553)
            # From: another user's address: 550 5.7.1 after the data.
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.sendmail(ALICE, [BOB], message("forged header", sender=BOB))
            self.assertEqual(e.exception.smtp_code, 550)
            # A remote recipient is accepted and queued for delivery.
            refused = s.sendmail(ALICE, ["friend@remote.test"], message("remote"))
            self.assertEqual(refused, {})
        subjects = [m["Subject"] for m in self.bob_messages()]
        self.assertNotIn("forged envelope", subjects)
        self.assertNotIn("forged header", subjects)

    def test_headers_given_are_kept(self):
        subject = self.unique("complete headers")
        extra = ("Date: Wed, 31 Dec 2025 23:00:00 +0100\r\n"
                 "Message-ID: <given@client.example.net>\r\n")
        with self.implicit() as s:
            s.login(ALICE, PW)
            s.sendmail(ALICE, [BOB], message(subject, extra=extra))
        m = self.bob_message(subject)
        self.assertEqual(m["Message-ID"], "<given@client.example.net>")
        self.assertEqual(m["Date"], "Wed, 31 Dec 2025 23:00:00 +0100")

    # --- swaks ---

    def swaks(self, *args, port="submission", check=True):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(PORTS[port]),
             "--from", ALICE, "--to", BOB, "--helo", "client.example.net",
             "--auth-user", ALICE, "--auth-password", PW, *args],
            capture_output=True, text=True, timeout=60,
        )
        if check:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def test_swaks_starttls_plain_and_login_and_implicit_tls(self):
        runs = [
            ("swaks plain", ["--tls", "--auth", "PLAIN"], "submission"),
            ("swaks login", ["--tls", "--auth", "LOGIN"], "submission"),
            ("swaks tlsc", ["--tlsc", "--auth", "PLAIN"], "submissions"),
        ]
        subjects = []
        for name, args, port in runs:
            subject = self.unique(name)
            out = self.swaks(*args, "--header", f"Subject: {subject}", port=port).stdout
            self.assertIn("235 2.7.0", out)
            subjects.append(subject)
        for subject in subjects:
            self.assertIn("ESMTPSA", self.bob_message(subject)["Received"])

    def test_swaks_without_tls_cannot_authenticate(self):
        r = self.swaks("--auth", "PLAIN", "--header", "Subject: no tls", check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("235 ", r.stdout)


if __name__ == "__main__":
    unittest.main()
