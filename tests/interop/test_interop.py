"""Interop suite: real, independent clients against the real binary over
TCP and TLS. Run by .ci/run after the build; needs swaks, curl, fetchmail.

    python3 tests/interop/test_interop.py -v
"""

import email
import os
import poplib
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from common import PORTS, Pillarbox, insecure_context, wait_for

PW = "correct horse battery staple"


def message(subject, body="Hello from the interop suite.\r\n", sender="bob@remote.test", to="alice@example.org"):
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@remote.test>\r\n\r\n{body}"
    )


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pb = Pillarbox(plaintext_auth=False).start()
        cls.pb.add_user("alice@example.org", PW)
        cls.pb.add_user("carol@example.org", PW)
        cls.pb.cli("alias", "add", "postmaster@example.org", "alice@example.org")

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()

    def pop3(self, user="alice@example.org"):
        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
        p.stls(context=insecure_context())
        p.user(user)
        p.pass_(PW)
        return p

    def pop3_subjects(self, user="alice@example.org"):
        p = self.pop3(user)
        try:
            out = []
            for i in range(1, p.stat()[0] + 1):
                raw = b"\r\n".join(p.retr(i)[1])
                out.append(email.message_from_bytes(raw)["Subject"])
            return out
        finally:
            p.quit()

    def empty_mailbox(self, user="alice@example.org"):
        p = self.pop3(user)
        for i in range(1, p.stat()[0] + 1):
            p.dele(i)
        p.quit()


class SmtpTests(Base):
    def test_smtplib_plain_and_starttls_then_pop3(self):
        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
            s.ehlo("client.remote.test")
            self.assertTrue(s.has_extn("pipelining"))
            self.assertTrue(s.has_extn("8bitmime"))
            self.assertTrue(s.has_extn("chunking"))
            self.assertTrue(s.has_extn("starttls"))
            s.sendmail("bob@remote.test", ["alice@example.org"], message("smtplib plain"))
        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
            s.starttls(context=insecure_context())
            s.ehlo("client.remote.test")
            self.assertFalse(s.has_extn("starttls"))
            s.sendmail("bob@remote.test", ["alice+lists@example.org"], message("smtplib tls"))
        subjects = self.pop3_subjects()
        self.assertIn("smtplib plain", subjects)
        self.assertIn("smtplib tls", subjects)

    def test_unknown_user_and_relay_are_refused(self):
        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
            s.ehlo("client.remote.test")
            s.mail("bob@remote.test")
            code, msg = s.rcpt("nobody@example.org")
            self.assertEqual(code, 550)
            self.assertIn(b"5.1.1", msg)
            code, msg = s.rcpt("victim@elsewhere.test")
            self.assertEqual(code, 554)
            self.assertIn(b"5.7.1", msg)

    def test_alias_delivers_to_target(self):
        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
            s.sendmail("bob@remote.test", ["postmaster@example.org"], message("to postmaster"))
        self.assertIn("to postmaster", self.pop3_subjects())

    def test_lmtp_per_recipient_replies(self):
        with smtplib.LMTP("127.0.0.1", PORTS["lmtp"], timeout=30) as s:
            s.ehlo_or_helo_if_needed()
            s.mail("bob@remote.test")
            self.assertEqual(s.rcpt("carol@example.org")[0], 250)
            self.assertEqual(s.rcpt("nobody@example.org")[0], 550)
            code, _ = s.data(message("via lmtp", to="carol@example.org").encode())
            self.assertEqual(code, 250)
        self.assertIn("via lmtp", self.pop3_subjects("carol@example.org"))

    def swaks(self, *args):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(PORTS["smtp"]),
             "--from", "bob@remote.test", "--to", "alice@example.org",
             "--helo", "client.remote.test", *args],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_swaks_plain_tls_pipelining(self):
        self.swaks("--header", "Subject: swaks plain")
        out = self.swaks("--tls", "--header", "Subject: swaks tls")
        self.assertIn("TLS started", out)
        self.swaks("--pipeline", "--header", "Subject: swaks pipeline")
        subjects = self.pop3_subjects()
        for s in ("swaks plain", "swaks tls", "swaks pipeline"):
            self.assertIn(s, subjects)

    def test_bdat_chunking(self):
        # swaks 20201014 (Debian 12) has no BDAT; speak it by hand over a socket.
        import socket
        body = message("bdat chunks").encode()
        with socket.create_connection(("127.0.0.1", PORTS["smtp"]), timeout=30) as c:
            f = c.makefile("rb")
            def reply():
                lines = []
                while True:
                    l = f.readline()
                    lines.append(l)
                    if l[3:4] != b"-":
                        return lines
            reply()
            c.sendall(b"EHLO client.remote.test\r\n")
            self.assertTrue(any(b"CHUNKING" in l for l in reply()))
            c.sendall(b"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.org>\r\n")
            self.assertTrue(reply()[0].startswith(b"250"))
            self.assertTrue(reply()[0].startswith(b"250"))
            half = len(body) // 2
            c.sendall(b"BDAT %d\r\n" % half + body[:half])
            self.assertTrue(reply()[0].startswith(b"250"))
            c.sendall(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
            self.assertTrue(reply()[0].startswith(b"250"))
            c.sendall(b"QUIT\r\n")
        self.assertIn("bdat chunks", self.pop3_subjects())


class Pop3Tests(Base):
    def deliver(self, subject, to="alice@example.org"):
        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
            s.sendmail("bob@remote.test", [to], message(subject, to=to))

    def test_poplib_uidl_and_delete_at_quit(self):
        self.empty_mailbox("carol@example.org")
        self.deliver("pop one", "carol@example.org")
        self.deliver("pop two", "carol@example.org")
        p = self.pop3("carol@example.org")
        count, size = p.stat()
        self.assertEqual(count, 2)
        uidl1 = p.uidl()[1]
        p.dele(1)
        p.quit()
        p = self.pop3("carol@example.org")
        self.assertEqual(p.stat()[0], 1)
        uidl2 = p.uidl()[1]
        self.assertEqual(uidl2[0].split()[1], uidl1[1].split()[1])
        p.quit()

    def test_pop3s_implicit_tls_and_dropped_connection_deletes_nothing(self):
        self.empty_mailbox("carol@example.org")
        self.deliver("keep me", "carol@example.org")
        p = poplib.POP3_SSL("127.0.0.1", PORTS["pop3s"], context=insecure_context(), timeout=30)
        p.user("carol@example.org")
        p.pass_(PW)
        p.dele(1)
        p.file.close()  # no QUIT: drop the connection
        p.sock.close()
        wait_for(lambda: self._stat_ok("carol@example.org"), what="maildrop unlocked")
        self.assertEqual(self.pop3_subjects("carol@example.org"), ["keep me"])

    def _stat_ok(self, user):
        try:
            p = self.pop3(user)
            p.quit()
            return True
        except poplib.error_proto:
            return False

    def test_plaintext_login_refused_without_tls(self):
        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
        caps = p.capa()
        self.assertIn("STLS", caps)
        with self.assertRaises(poplib.error_proto):
            p.user("alice@example.org")
            p.pass_(PW)
        p.quit()

    def test_curl_pop3_and_pop3s(self):
        self.empty_mailbox("carol@example.org")
        self.deliver("curl me", "carol@example.org")
        user = "carol%40example.org:" + PW.replace(" ", "%20")
        for url, extra in (
            (f"pop3://127.0.0.1:{PORTS['pop3']}/1", ["--ssl-reqd"]),
            (f"pop3s://127.0.0.1:{PORTS['pop3s']}/1", []),
        ):
            r = subprocess.run(
                ["curl", "-sS", "-k", *extra, "--user", user.replace("%40", "@").replace("%20", " "), url],
                capture_output=True, text=True, timeout=60,
            )
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Subject: curl me", r.stdout)
        r = subprocess.run(
            ["curl", "-sS", "-k", "--user", "carol@example.org:" + PW,
             f"pop3s://127.0.0.1:{PORTS['pop3s']}/"],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^1 \d+")

    @unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
    def test_fetchmail_keep_then_delete(self):
        self.empty_mailbox("carol@example.org")
        self.deliver("fetch one", "carol@example.org")
        self.deliver("fetch two", "carol@example.org")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "mbox")
            rc = os.path.join(d, "fetchmailrc")

            def run(keep):
                with open(rc, "w") as f:
                    f.write(
                        f'poll 127.0.0.1 service {PORTS["pop3s"]} proto pop3 auth password\n'
                        f'  user "carol@example.org" there password "{PW}"\n'
                        f'  {"keep" if keep else "nokeep fetchall"} ssl no sslcertck\n'
                        f'  mda "/bin/sh -c \'cat >> {out}\'"\n'
                    )
                os.chmod(rc, 0o600)
                r = subprocess.run(
                    ["fetchmail", "-f", rc, "--nodetach", "--silent", "-i", os.path.join(d, "ids")],
                    capture_output=True, text=True, timeout=120,
                    env={**os.environ, "HOME": d, "FETCHMAILHOME": d},
                )
                # 0 = mail retrieved, 1 = no mail
                self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
                return r.returncode

            self.assertEqual(run(keep=True), 0)
            with open(out) as f:
                data = f.read()
            self.assertIn("fetch one", data)
            self.assertIn("fetch two", data)
            self.assertEqual(len(self.pop3_subjects("carol@example.org")), 2)
            # keep mode remembers UIDs: a second keep run fetches nothing new
            self.assertEqual(run(keep=True), 1)
            self.deliver("fetch three", "carol@example.org")
            self.assertEqual(run(keep=False), 0)
            with open(out) as f:
                data = f.read()
            # delete mode with fetchall: everything is fetched once more and
            # deleted on the server
            self.assertEqual(data.count("Subject: fetch three"), 1)
            self.assertEqual(data.count("Subject: fetch one"), 2)
            self.assertEqual(self.pop3_subjects("carol@example.org"), [])


if __name__ == "__main__":
    unittest.main()
