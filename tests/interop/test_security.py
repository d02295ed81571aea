"""Security checks against the real binary: TLS 1.2+ only with AEAD suites,
no plaintext authentication without TLS (default configuration), no open
relay for unauthenticated sessions, and passwords never in the log (debug
level, successful and failed logins on all three protocols, in clear and in
base64)."""

import base64
import imaplib
import os
import poplib
import smtplib
import socket
import ssl
import unittest

from common import PORTS, Pillarbox, insecure_context

PW = "Sekr1t-Pa55-word!"
WRONG = "Wr0ng-Guess-Pa55"


def client_context(minimum, maximum, ciphers=None):
    ctx = insecure_context()
    # Let the client offer old versions: the refusal must come from the server.
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    ctx.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
    return ctx


def handshake(port, ctx):
    """(protocol version, cipher name) of an implicit-TLS connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version(), tls.cipher()[0]


def smtp_starttls(port, ctx):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("client.test")
    try:
        s.starttls(context=ctx)
        return s.sock.version()
    finally:
        try:
            s.close()
        except OSError:
            pass


class SecurityTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # RUST_LOG overrides the configured level: log everything at debug.
        os.environ["RUST_LOG"] = "debug"
        cls.pb = Pillarbox(plaintext_auth=False).start()
        del os.environ["RUST_LOG"]
        cls.pb.add_user("alice@example.org", PW)

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()

    # --- TLS ---

    def test_tls_1_0_and_1_1_are_refused_on_every_tls_listener(self):
        old = client_context(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
        for name in ("imaps", "pop3s", "submissions"):
            with self.subTest(name):
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    handshake(PORTS[name], old)
        with self.assertRaises((ssl.SSLError, ConnectionError, smtplib.SMTPException)):
            smtp_starttls(PORTS["smtp"], old)

    def test_tls_1_2_and_1_3_work(self):
        for name in ("imaps", "pop3s", "submissions"):
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(f"{name} {version.name}"):
                    got, _ = handshake(PORTS[name], client_context(version, version))
                    self.assertEqual(got, version.name.replace("_", "."))
        self.assertEqual(
            smtp_starttls(PORTS["smtp"], client_context(ssl.TLSVersion.TLSv1_2,
                                                        ssl.TLSVersion.TLSv1_2)),
            "TLSv1.2")

    def test_tls_1_2_offers_only_forward_secret_aead_suites(self):
        tls12 = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
        # CBC, static RSA, NULL, export, RC4, 3DES: every one refused.
        for weak in ("AES128-SHA", "AES256-SHA256", "ECDHE-ECDSA-AES128-SHA",
                     "ECDHE-ECDSA-AES256-SHA384", "DES-CBC3-SHA", "NULL-SHA", "RC4-SHA",
                     "AES128-GCM-SHA256"):
            with self.subTest(weak):
                try:
                    ctx = client_context(*tls12, ciphers=weak + ":@SECLEVEL=0")
                except ssl.SSLError:
                    continue  # this OpenSSL cannot even offer it
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    handshake(PORTS["imaps"], ctx)
        _, cipher = handshake(PORTS["imaps"], client_context(*tls12))
        self.assertTrue(cipher.startswith("ECDHE-"), cipher)
        self.assertTrue("GCM" in cipher or "CHACHA20" in cipher, cipher)

    # --- no plaintext authentication ---

    def test_no_plaintext_auth_on_any_protocol(self):
        m = imaplib.IMAP4("127.0.0.1", PORTS["imap"], timeout=10)
        self.assertIn("LOGINDISABLED", m.capabilities)
        typ, data = m._simple_command("LOGIN", "alice@example.org", PW)
        self.assertEqual(typ, "NO")
        typ, _ = m._simple_command("AUTHENTICATE", "PLAIN",
                                   base64.b64encode(f"\0alice@example.org\0{PW}".encode()).decode())
        self.assertNotEqual(typ, "OK")
        m.shutdown()

        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=10)
        with self.assertRaises(poplib.error_proto):
            p.user("alice@example.org")
            p.pass_(PW)
        with self.assertRaises(poplib.error_proto):
            p._shortcmd("AUTH PLAIN " + base64.b64encode(f"\0alice@example.org\0{PW}".encode()).decode())
        p.close()

        s = smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=10)
        s.ehlo("client.test")
        self.assertFalse(s.has_extn("auth"))
        code, msg = s.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0alice@example.org\0{PW}".encode()).decode())
        self.assertEqual(code, 538, msg)
        self.assertTrue(msg.startswith(b"5.7.11"), msg)
        code, _ = s.docmd("MAIL", "FROM:<alice@example.org>")
        self.assertEqual(code, 530)
        s.close()

    # --- no open relay ---

    def test_unauthenticated_sessions_never_relay(self):
        tricks = ["bob@remote.test", "<@example.org:bob@remote.test>",
                  "bob%remote.test@example.org", "\"bob@remote.test\"@example.org",
                  "bob@remote.test@example.org", "bob@[192.0.2.1]", "postmaster@remote.test"]
        for sender in ("x@remote.test", "alice@example.org", ""):
            s = smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=10)
            s.ehlo("client.test")
            code, _ = s.docmd("MAIL", f"FROM:<{sender}>")
            self.assertEqual(code, 250)
            for rcpt in tricks:
                addr = rcpt if rcpt.startswith("<") else f"<{rcpt}>"
                code, msg = s.docmd("RCPT", f"TO:{addr}")
                self.assertGreaterEqual(code, 500, f"MX relayed to {rcpt}: {code} {msg}")
            code, _ = s.docmd("DATA")
            self.assertGreaterEqual(code, 500)
            s.close()
        # Submission without AUTH (even after STARTTLS): nothing at all.
        s = smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=10)
        s.starttls(context=insecure_context())
        s.ehlo("client.test")
        code, _ = s.docmd("MAIL", "FROM:<alice@example.org>")
        self.assertEqual(code, 530)
        code, _ = s.docmd("RCPT", "TO:<bob@remote.test>")
        self.assertGreaterEqual(code, 500)
        s.close()

    # --- passwords never in the log ---

    def test_passwords_never_appear_in_the_log(self):
        plain_ok = base64.b64encode(f"\0alice@example.org\0{PW}".encode()).decode()
        plain_bad = base64.b64encode(f"\0alice@example.org\0{WRONG}".encode()).decode()
        # IMAP over TLS: LOGIN and AUTHENTICATE PLAIN, right and wrong.
        for password in (WRONG, PW):
            m = imaplib.IMAP4_SSL("127.0.0.1", PORTS["imaps"], ssl_context=insecure_context(),
                                  timeout=10)
            try:
                m.login("alice@example.org", password)
            except imaplib.IMAP4.error:
                pass
            m.shutdown()
        m = imaplib.IMAP4_SSL("127.0.0.1", PORTS["imaps"], ssl_context=insecure_context(),
                              timeout=10)
        m.authenticate("PLAIN", lambda _: f"\0alice@example.org\0{PW}".encode())
        m.logout()
        # POP3 over TLS: USER/PASS and AUTH PLAIN.
        for password in (WRONG, PW):
            p = poplib.POP3_SSL("127.0.0.1", PORTS["pop3s"], context=insecure_context(),
                                timeout=10)
            try:
                p.user("alice@example.org")
                p.pass_(password)
            except poplib.error_proto:
                pass
            p.quit()
        p = poplib.POP3_SSL("127.0.0.1", PORTS["pop3s"], context=insecure_context(), timeout=10)
        p._shortcmd("AUTH PLAIN " + plain_ok)
        p.quit()
        # Submission: AUTH PLAIN and LOGIN, right and wrong.
        for token in (plain_bad, plain_ok):
            s = smtplib.SMTP_SSL("127.0.0.1", PORTS["submissions"], context=insecure_context(),
                                 timeout=10)
            s.ehlo("client.test")
            s.docmd("AUTH", "PLAIN " + token)
            s.close()
        for password in (WRONG, PW):
            s = smtplib.SMTP_SSL("127.0.0.1", PORTS["submissions"], context=insecure_context(),
                                 timeout=10)
            s.ehlo("client.test")
            s.docmd("AUTH", "LOGIN")
            s.docmd(base64.b64encode(b"alice@example.org").decode())
            s.docmd(base64.b64encode(password.encode()).decode())
            s.close()

        log = self.pb.server_log()
        self.assertIn("DEBUG", log, "the log is at debug level")
        self.assertIn("authentication failed", log)
        for secret in (PW, WRONG):
            forms = {
                "clear": secret,
                "base64": base64.b64encode(secret.encode()).decode(),
                "PLAIN token": base64.b64encode(f"\0alice@example.org\0{secret}".encode()).decode(),
            }
            for form, text in forms.items():
                self.assertNotIn(text, log, f"password ({form}) in the log")
        # A log file gets plain text: no terminal colour escapes.
        self.assertNotIn("\x1b[", log, "ANSI escapes in a log file")


if __name__ == "__main__":
    unittest.main()
