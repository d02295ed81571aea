"""Outbound delivery through the real resolver path, to a real remote MX:

- a test DNS server (dns_server.py, Debian's python3-dnslib) on 127.0.0.1
  serves the test zones, and Pillarbox's `[dns] nameservers` points at it;
  Pillarbox has NO `*` route, so every outbound domain goes through MX
  lookup (hickory-resolver) and port 25;
- a private Postfix (postfix.py) is the remote domains' MX on 127.0.0.2:25
  (and 127.0.0.3:25, the implicit MX's address) with STARTTLS and
  virtual-mailbox maildirs: the messages it stores are read back here.

Checked: delivery to the MX named in DNS over STARTTLS with headers intact
and DKIM signatures that dkimpy verifies against keys published in the
test DNS; the implicit MX (no MX, an A record: RFC 5321 §5.1); MX
preference with a dead first host; a null MX (RFC 7505) and a non-existent
domain bounce at the first attempt, without retry; a 550 from Postfix
bounces with Postfix's reply in the DSN.

Needs root (Postfix, port 25), the postfix, python3-dnslib and python3-dkim
packages; run with the system interpreter:

    /usr/bin/python3 tests/interop/test_mx.py -v
"""

import email
import email.policy
import os
import poplib
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BIN, PORTS, Pillarbox, insecure_context, wait_for  # noqa: E402
from postfix import PrivatePostfix, available  # noqa: E402

try:
    import dkim
    from dnslib import DNSRecord
    from dns_server import TestDns, txt_record
    from test_dkim import zone_txt
except ImportError as e:  # pragma: no cover - reported as a skip
    MISSING = f"{e} (apt-get install python3-dnslib python3-dkim python3-nacl; /usr/bin/python3)"
else:
    MISSING = None

PW = "mx interop password"
ALICE = "alice@example.org"
BOB = "bob@remote.test"          # MX 10 mx.remote.test -> 127.0.0.2
CAROL = "carol@implicit.test"    # no MX; A 127.0.0.3
DAVE = "dave@backup.test"        # MX 10 dead (127.0.0.4:25 closed), MX 20 mx.remote.test
MX_HOSTS = ["127.0.0.2", "127.0.0.3"]

ZONES = {
    "remote.test": ["remote.test. 60 IN MX 10 mx.remote.test.",
                    "mx.remote.test. 60 IN A 127.0.0.2"],
    "implicit.test": ["implicit.test. 60 IN A 127.0.0.3"],
    "backup.test": ["backup.test. 60 IN MX 10 dead.backup.test.",
                    "backup.test. 60 IN MX 20 mx.remote.test.",
                    "dead.backup.test. 60 IN A 127.0.0.4"],
    # RFC 7505 §3: a single MX with preference 0 and the root as exchange.
    "null.test": ["null.test. 60 IN MX 0 ."],
    # Filled with `pillarbox dns example.org` once the domain exists.
    "example.org": [],
}


def why_skip():
    if MISSING:
        return MISSING
    reason = available()
    if reason:
        return reason
    if not os.path.exists(BIN):
        return f"pillarbox binary {BIN} is not built (cargo build --bin pillarbox)"
    for host in MX_HOSTS:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, 25))
            except OSError as e:
                return f"cannot bind {host}:25 for the remote MX: {e}"
    return None


SKIP = why_skip()


def self_signed(directory):
    """A self-signed certificate for the MX's STARTTLS: (key, cert) paths."""
    key, cert = os.path.join(directory, "mx-key.pem"), os.path.join(directory, "mx-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=mx.remote.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return key, cert


def submit(to, subject, extra_headers=""):
    """Submission over STARTTLS with AUTH PLAIN; returns the Message-ID."""
    mid = f"<{uuid.uuid4()}@example.org>"
    with smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=30) as s:
        s.ehlo("client.example.net")
        s.starttls(context=insecure_context())
        s.ehlo("client.example.net")
        s.login(ALICE, PW)
        s.sendmail(ALICE, to, (
            f"From: Alice <{ALICE}>\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n"
            f"Message-ID: {mid}\r\n{extra_headers}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"Delivered by MX lookup.\r\n.dot-stuffed line\r\n"))
    return mid


@unittest.skipIf(SKIP, SKIP or "")
class MxDelivery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = TestDns(ZONES).start()
        cls.addClassCleanup(cls.dns.stop)
        cls.tmp = tempfile.mkdtemp(prefix="pillarbox-mx-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        os.chmod(cls.tmp, 0o755)
        key, cert = self_signed(cls.tmp)
        cls.mx = PrivatePostfix(
            None, None, 25, listen_hosts=MX_HOSTS, mailboxes=[BOB, CAROL, DAVE],
            myhostname="mx.remote.test",
            extra=("smtpd_tls_security_level = may\n"
                   f"smtpd_tls_chain_files = {key}, {cert}\n"
                   "smtpd_tls_loglevel = 1\n"
                   "smtpd_tls_received_header = yes\n"))
        cls.addClassCleanup(cls.mx.stop)
        cls.mx.start()
        cls.pb = Pillarbox(plaintext_auth=False, smarthost=False, extra_config=f"""
[dns]
nameservers = ["127.0.0.1:{cls.dns.port}"]
timeout_secs = 2
[queue]
retry_initial_secs = 1
retry_max_secs = 2
poll_interval_secs = 1
timeout_secs = 20
""")
        cls.addClassCleanup(cls.pb.stop)
        cls.pb.start()
        cls.pb.add_user(ALICE, PW)
        # Publish example.org's DKIM (and SPF) records in the test DNS.
        cls.published = zone_txt(cls.pb.cli("dns", "example.org").stdout)
        for name, values in cls.published.items():
            for value in values:
                cls.dns.add(txt_record(name, value))

    # -- helpers ---------------------------------------------------------

    def received(self, address, subject, timeout=60):
        """The raw message (CRLF) with this subject in a Postfix maildir."""
        found = []

        def look():
            for raw in self.mx.mailbox(address):
                if f"\nSubject: {subject}\n".encode() in raw:
                    found.append(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
                    return True
            return False

        try:
            wait_for(look, timeout=timeout, what=f"{subject!r} in {address}'s maildir")
        except AssertionError:
            raise AssertionError(f"not delivered; pillarbox log tail:\n"
                                 f"{self.pb.server_log()[-3000:]}\n--- postfix log tail:\n"
                                 f"{self.mx.log()[-3000:]}") from None
        return found[0]

    def bounce(self, subject, timeout=30):
        """Alice's bounce about the message with this subject (POP3 STLS)."""
        found = []

        def look():
            p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
            try:
                p.stls(context=insecure_context())
                p.user(ALICE)
                p.pass_(PW)
                for i in range(1, p.stat()[0] + 1):
                    raw = b"\r\n".join(p.retr(i)[1])
                    if subject.encode() in raw:
                        found.append(email.message_from_bytes(raw, policy=email.policy.compat32))
                        return True
                return False
            finally:
                p.quit()

        wait_for(look, timeout=timeout, what=f"a bounce about {subject!r}")
        return found[0]

    @staticmethod
    def delivery_status(msg):
        for part in msg.walk():
            if part.get_content_type() == "message/delivery-status":
                return "\n".join(str(p) for p in part.get_payload())
        return ""

    def attempts(self, address):
        """Pillarbox's logged delivery attempts for one recipient."""
        return [line for line in self.pb.server_log().splitlines()
                if "delivery attempt" in line and address in line]

    def dns_dkim(self, name, timeout=5):
        """dkimpy's DNS function, asking the test DNS server over the wire."""
        if isinstance(name, bytes):
            name = name.decode()
        reply = DNSRecord.parse(DNSRecord.question(name, "TXT").send(
            "127.0.0.1", self.dns.port, timeout=timeout))
        for rr in reply.rr:
            return b"".join(rr.rdata.data)
        return None

    def queried(self, name, qtype):
        with self.dns.lock:
            return (name, qtype) in self.dns.queries

    def assert_mx_session(self, host):
        """Postfix logged a connection on this listen address (postfix.py
        names each address's smtpd postfix/HOST/smtpd)."""
        self.mx.wait_log(rf"postfix/{re.escape(host)}/smtpd\[\d+\]: connect from")

    # -- tests -----------------------------------------------------------

    def test_delivers_to_the_mx_in_dns_with_tls_and_dkim(self):
        subject = f"mx delivery {uuid.uuid4()}"
        mid = submit([BOB], subject, extra_headers="X-Interop: kept as is\r\n")
        raw = self.received(BOB, subject)
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        # Headers intact; Pillarbox added a Date.
        self.assertEqual(msg["Message-ID"], mid)
        self.assertEqual(msg["From"], f"Alice <{ALICE}>")
        self.assertEqual(msg["To"], BOB)
        self.assertEqual(msg["Subject"], subject)
        self.assertEqual(msg["X-Interop"], "kept as is")
        self.assertTrue(msg["Date"])
        self.assertIn(b"\r\n.dot-stuffed line\r\n", raw)
        # Postfix's trace: it received over STARTTLS from Pillarbox's EHLO name.
        top = msg.get_all("Received")[0]
        self.assertIn("by mx.remote.test (Postfix) with ESMTPS", top)
        self.assertIn("from mail.example.org", top)
        self.mx.wait_log(r"postfix/127\.0\.0\.2/smtpd\[\d+\]: Anonymous TLS connection "
                         r"established from")
        self.assert_mx_session("127.0.0.2")
        # The real resolver path: MX, then the exchange's address.
        self.assertTrue(self.queried("remote.test", "MX"), self.dns.queries)
        self.assertTrue(self.queried("mx.remote.test", "A"), self.dns.queries)
        # DKIM: both signatures (Ed25519 and RSA) verify with keys fetched
        # from the test DNS server.
        sigs = msg.get_all("DKIM-Signature") or []
        self.assertEqual(len(sigs), 2, sigs)
        self.assertTrue(all("d=example.org" in re.sub(r"\s", "", s) for s in sigs), sigs)
        d = dkim.DKIM(raw)
        for idx in range(len(sigs)):
            self.assertTrue(d.verify(idx=idx, dnsfunc=self.dns_dkim), f"signature {idx}")
        self.assertTrue(self.queried(f"{d.selector.decode()}._domainkey.example.org", "TXT"))
        wait_for(lambda: re.search(r"messages queued:\s+0\b",
                                   self.pb.cli("queue", "stats").stdout),
                 what="an empty queue")

    def test_implicit_mx_is_the_domain_address(self):
        subject = f"implicit mx {uuid.uuid4()}"
        submit([CAROL], subject)
        raw = self.received(CAROL, subject)
        self.assertIn(b"by mx.remote.test (Postfix) with ESMTPS", raw)
        self.assertTrue(self.queried("implicit.test", "MX"), self.dns.queries)
        self.assertTrue(self.queried("implicit.test", "A"), self.dns.queries)
        self.assert_mx_session("127.0.0.3")

    def test_mx_preference_skips_a_dead_host(self):
        subject = f"backup mx {uuid.uuid4()}"
        submit([DAVE], subject)
        self.received(DAVE, subject)
        # The preferred host was tried first (its address looked up, its
        # port closed), then the next MX took the message in the same attempt.
        self.assertTrue(self.queried("dead.backup.test", "A"), self.dns.queries)
        self.assertTrue(self.queried("mx.remote.test", "A"), self.dns.queries)
        attempts = self.attempts(DAVE)
        self.assertEqual(len(attempts), 1, attempts)
        self.assertIn("Delivered", attempts[0])

    def test_null_mx_bounces_at_the_first_attempt(self):
        subject = f"null mx {uuid.uuid4()}"
        to = "someone@null.test"
        submit([to], subject)
        status = self.delivery_status(self.bounce(subject))
        self.assertIn(f"Final-Recipient: rfc822; {to}", status)
        self.assertIn("Action: failed", status)
        self.assertIn("Status: 5.1.10", status)  # RFC 7505 §4.2
        self.assertIn("null MX", status)
        self.assertTrue(self.queried("null.test", "MX"), self.dns.queries)
        # Permanent at once: one attempt, no retry, no address lookup.
        attempts = self.attempts(to)
        self.assertEqual(len(attempts), 1, attempts)
        self.assertIn("Failed", attempts[0])
        self.assertFalse(self.queried("null.test", "A"), self.dns.queries)

    def test_nonexistent_domain_bounces_at_the_first_attempt(self):
        subject = f"nxdomain {uuid.uuid4()}"
        to = "someone@nosuch.remote.test"
        submit([to], subject)
        status = self.delivery_status(self.bounce(subject))
        self.assertIn(f"Final-Recipient: rfc822; {to}", status)
        self.assertIn("Status: 5.1.2", status)
        self.assertEqual(len(self.attempts(to)), 1)

    def test_unknown_user_at_the_mx_bounces_with_its_reply(self):
        subject = f"unknown at postfix {uuid.uuid4()}"
        to = "nobody@remote.test"
        submit([to, BOB], subject)
        self.received(BOB, subject)  # the other recipient is unaffected
        status = self.delivery_status(self.bounce(subject))
        self.assertIn(f"Final-Recipient: rfc822; {to}", status)
        self.assertNotIn(BOB, status)
        self.assertIn("Status: 5.1.1", status)
        self.assertIn("Remote-MTA: dns; mx.remote.test", status)
        self.assertIn("User unknown in virtual mailbox table", status)


def _interrupt(signum, _frame):
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C: the Postfix
    # instance, the DNS server and the server are stopped at exit.
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    unittest.main()
