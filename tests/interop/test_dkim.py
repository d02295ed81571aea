"""DKIM interop (RFC 6376, RFC 8463): messages submitted to the real binary
are verified by dkimpy (Debian's python3-dkim, with PyNaCl for Ed25519), a
verifier we did not write, against the key records `pillarbox dns` prints —
so the signatures and the published records are checked together. Also:
keys rotated with `pillarbox domain dkim --rotate` while the server runs
sign the next message, and `pillarbox dns` refuses unknown domains.

Run with the interpreter that has python3-dkim (tests/interop/run.sh uses
/usr/bin/python3 for this file):

    /usr/bin/python3 tests/interop/test_dkim.py -v
"""

import poplib
import re
import smtplib
import unittest
import uuid

import dkim

from common import PORTS, Pillarbox, insecure_context

PW = "correct horse battery staple"
BOB_PW = "tr0ub4dor&3"
ALICE = "alice@example.org"
BOB = "bob@example.org"


def zone_txt(text):
    """{name: value} of the TXT records in zone-file text, joining the
    quoted strings of multi-string (parenthesised) values."""
    records = {}
    lines = [l for l in text.splitlines() if not l.startswith(";")]
    joined = re.sub(r"\(\s*(.*?)\s*\)", lambda m: m.group(1).replace("\n", " "),
                    "\n".join(lines), flags=re.S)
    for line in joined.splitlines():
        m = re.match(r"^(\S+)\s+\d+\s+IN\s+TXT\s+(.*)$", line)
        if m:
            parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
            records.setdefault(m.group(1).lower(), []).append("".join(parts))
    return records


class Dkim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pb = Pillarbox(plaintext_auth=False).start()
        cls.pb.add_user(ALICE, PW)
        cls.pb.add_user(BOB, BOB_PW)

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()

    def published(self):
        out = self.pb.cli("dns", "example.org").stdout
        return out, zone_txt(out)

    def send(self, subject):
        with smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=30) as s:
            s.ehlo("client.example.net")
            s.starttls(context=insecure_context())
            s.ehlo("client.example.net")
            s.login(ALICE, PW)
            s.sendmail(ALICE, [BOB], (
                f"From: Alice <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: {subject}\r\n"
                "\r\nSigned by Pillarbox, checked by dkimpy.\r\n"))

    def retrieve(self, subject):
        """The raw bytes of Bob's message with this subject (POP3)."""
        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
        try:
            p.stls(context=insecure_context())
            p.user(BOB)
            p.pass_(BOB_PW)
            for i in range(1, p.stat()[0] + 1):
                raw = b"\r\n".join(p.retr(i)[1]) + b"\r\n"
                if f"Subject: {subject}".encode() in raw:
                    return raw
        finally:
            p.quit()
        self.fail(f"{subject!r} not in Bob's INBOX")

    @staticmethod
    def dnsfunc(txt):
        """A dkimpy DNS function answering from the printed TXT records."""
        def lookup(name, timeout=5):
            if isinstance(name, bytes):
                name = name.decode()
            name = name.lower()
            if not name.endswith("."):
                name += "."
            values = txt.get(name)
            return values[0].encode() if values else None
        return lookup

    def verify_all(self, raw, txt):
        """Verifies every DKIM-Signature with dkimpy; returns the (s=, a=)
        of each."""
        dnsfunc = self.dnsfunc(txt)
        d = dkim.DKIM(raw)
        count = raw.split(b"\r\n\r\n", 1)[0].count(b"DKIM-Signature:")
        self.assertEqual(count, 2, "an Ed25519 and an RSA signature")
        seen = []
        for idx in range(count):
            self.assertTrue(d.verify(idx=idx, dnsfunc=dnsfunc),
                            f"signature {idx} verifies")
            seen.append((d.selector.decode(), d.signature_fields[b"a"].decode()))
        return sorted(seen, key=lambda s: s[1])

    def test_signatures_verify_against_the_printed_records(self):
        out, txt = self.published()
        self.assertEqual(txt["example.org."],
                         ["v=spf1 mx ip4:127.0.0.1 -all"],
                         "one merged SPF record, smarthost included")
        self.assertIn("_dmarc.example.org.", txt)
        self.assertIn("_mta-sts.example.org.", txt)
        self.assertIn("_smtp._tls.example.org.", txt)
        self.assertRegex(out, r"_submissions\._tcp\.example\.org\.\s+3600 IN SRV\s+0 1 "
                         + str(PORTS["submissions"]) + r" mail\.example\.org\.")
        keys = {n: v for n, v in txt.items() if "._domainkey." in n}
        # Two per domain add; the rotation test may have added two more.
        self.assertIn(len(keys), (2, 4), keys)
        self.assertTrue(any("k=ed25519" in v[0] for v in keys.values()))
        self.assertTrue(any("k=rsa" in v[0] and len(v[0]) > 255 for v in keys.values()),
                        "the RSA record is longer than one string")

        subject = f"dkim {uuid.uuid4().hex[:8]}"
        self.send(subject)
        seen = self.verify_all(self.retrieve(subject), txt)
        self.assertEqual([a for _, a in seen], ["ed25519-sha256", "rsa-sha256"])
        for selector, _ in seen:
            self.assertIn(f"{selector}._domainkey.example.org.", keys)

        # Changed in transit: dkimpy must reject it.
        tampered = self.retrieve(subject).replace(b"checked by dkimpy",
                                                  b"checked by nobody")
        d = dkim.DKIM(tampered)
        for idx in (0, 1):
            try:
                ok = d.verify(idx=idx, dnsfunc=self.dnsfunc(txt))
            except dkim.ValidationError:  # body hash mismatch
                ok = False
            self.assertFalse(ok, f"tampered signature {idx}")

    def test_rotation_while_running_and_unknown_domains(self):
        _, before = self.published()
        r = self.pb.cli("domain", "dkim", "example.org", "--rotate")
        self.assertIn("DKIM key", r.stdout)
        _, after = self.published()
        new = {n for n in after if "._domainkey." in n} - set(before)
        self.assertEqual(len(new), 2, after)
        subject = f"rotated {uuid.uuid4().hex[:8]}"
        self.send(subject)
        seen = self.verify_all(self.retrieve(subject), after)
        self.assertEqual({f"{s}._domainkey.example.org." for s, _ in seen}, new,
                         "the running server signs with the new keys at once")

        r = self.pb.cli("dns", "nope.example", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("unknown domain nope.example", r.stderr)


if __name__ == "__main__":
    unittest.main()
