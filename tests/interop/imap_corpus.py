"""The message corpus and shared helpers of the Python IMAP library
interop tests (test_imapclient.py, test_imap_tools.py): hand-written
messages whose every ENVELOPE / BODYSTRUCTURE value is known, a generator
of random MIME messages (Python's own encoder), and the test base class
(a server per class, a time bound per test)."""

import base64
import datetime
import email.header
import email.headerregistry
import email.message
import email.utils
import hashlib
import imaplib
import itertools
import os
import signal
import smtplib
import unittest

from common import PORTS, Pillarbox, insecure_context, wait_for

PW = "correct horse battery staple"
TEST_TIMEOUT = 120  # seconds per test (signal.alarm)
_counter = itertools.count(1)


# ---------------------------------------------------------------- corpus

def crlf(s):
    return s.replace("\n", "\r\n")


def lines(body):
    """Text lines of a body as BODYSTRUCTURE counts them (RFC 9051 §7.5.2:
    "size of the body in text lines"); a last line without CRLF counts."""
    n = body.count(b"\n")
    return n + (1 if body and not body.endswith(b"\n") else 0)


PDF = bytes(range(256)) + b"%PDF-1.4 fake report\n" * 4
PDF_B64 = base64.encodebytes(PDF).replace(b"\n", b"\r\n")  # 76-char lines, CRLF
PDF_MD5 = base64.b64encode(hashlib.md5(PDF).digest())  # RFC 1864 Content-MD5

# A: plain text over SMTP; RFC 2047 B subject; a group with a quoted display
# name that has an escaped quote; an empty group; a display name with a comma.
A_BODY = b"plain body line one\r\nplain body line two\r\n"
A = crlf(
    'From: "Doe, John" <john@remote.test>\n'
    'To: Friends: a@x.test, "Q \\"quoted\\" R" <b@x.test>;, c@x.test\n'
    "Cc: undisclosed-recipients:;\n"
    "Reply-To: Replies <replies@remote.test>\n"
    "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\n"
    "Date: Mon, 01 Jun 2026 10:00:00 +0000\n"
    "Message-ID: <plain-a@remote.test>\n"
    "In-Reply-To: <parent@remote.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=us-ascii\n\n"
).encode() + A_BODY

# B: multipart/alternative over SMTP; RFC 2047 Q subject (ISO-8859-1) and
# display name; a quoted-printable text part and an HTML part.
B_TEXT = b"Caf=E9 cr=E8me, one line\r\n"
B_HTML = b"<p>Caf&eacute; cr&egrave;me</p>\r\n<p>second</p>\r\n"
B = crlf(
    "From: =?ISO-8859-1?Q?Andr=E9?= Martin <andre@remote.test>\n"
    'To: "Alice Example" <alice@example.org>\n'
    "Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?= and tea\n"
    "Date: Tue, 02 Jun 2026 11:30:00 +0200\n"
    "Message-ID: <alt-b@remote.test>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/alternative; boundary="alt-b"\n\n'
    "--alt-b\n"
    "Content-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n\n"
).encode() + B_TEXT + crlf(
    "\n--alt-b\n"
    "Content-Type: text/html; charset=utf-8\n\n"
).encode() + B_HTML + crlf("\n--alt-b--\n").encode()

# C: multipart/mixed by APPEND: 8bit UTF-8 text, a base64 PDF, a
# quoted-printable attachment with an RFC 2231 file name, and a forwarded
# message/rfc822 with its own (RFC 2047 encoded) envelope.
C_TEXT = "Attached: the report and the forwarded note. Ünïcödé.\r\n".encode()
C_QP = b"r=C3=A9sum=C3=A9 text\r\n"
C_INNER_BODY = b"Inner body.\r\n"
C_INNER = crlf(
    "From: Dave <dave@remote.test>\n"
    "To: carol@remote.test\n"
    "Subject: =?UTF-8?Q?Inner_=E2=82=AC_subject?=\n"
    "Date: Sun, 31 May 2026 09:00:00 +0200\n"
    "Message-ID: <inner@remote.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
).encode() + C_INNER_BODY
C = crlf(
    "From: Carol <carol@remote.test>\n"
    'To: "Smith, Bob" <bob@remote.test>, alice@example.org\n'
    "Subject: Quarterly report with attachments\n"
    "Date: Wed, 03 Jun 2026 08:15:00 -0400\n"
    "Message-ID: <mixed-c@remote.test>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="mix-c"\n\n'
    "This is a multi-part message in MIME format.\n"
    "--mix-c\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n\n"
).encode() + C_TEXT + crlf(
    "\n--mix-c\n"
    'Content-Type: application/pdf; name="report.pdf"\n'
    'Content-Disposition: attachment; filename="report.pdf"\n'
    f"Content-MD5: {PDF_MD5.decode()}\n"
    "Content-Transfer-Encoding: base64\n\n"
).encode() + PDF_B64 + crlf(
    "\n--mix-c\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt\n"
    "Content-Transfer-Encoding: quoted-printable\n\n"
).encode() + C_QP + crlf(
    "\n--mix-c\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: forwarded note\n\n"
).encode() + C_INNER + crlf("\n--mix-c--\n").encode()
# Internal dates in the past, so that SINCE also matches the SMTP-delivered
# messages (internal date: now) whatever the clock says.
C_DATE = datetime.datetime(2020, 6, 3, 12, 15, 0, tzinfo=datetime.timezone.utc)

# D: raw UTF-8 headers (RFC 6532) by APPEND: sent back as literals, or as
# quoted UTF-8 once UTF8=ACCEPT is enabled (RFC 6855 §3).
D_BODY = "Hällo wörld\r\n".encode()
D = crlf(
    "From: Jürgen Müller <juergen@remote.test>\n"
    'To: "Zoë, the Boss" <zoe@example.org>\n'
    "Subject: Grüße, raw UTF-8 — ok\n"
    "Date: Thu, 04 Jun 2026 16:45:00 +0000\n"
    "Message-ID: <utf8-d@remote.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n\n"
).encode("utf-8") + D_BODY
D_DATE = datetime.datetime(2020, 6, 4, 18, 0, 0, tzinfo=datetime.timezone.utc)


def decoded(raw):
    """An RFC 2047 encoded header value (bytes) to str."""
    return str(email.header.make_header(email.header.decode_header(raw.decode("utf-8"))))


def addr(a):
    """An imapclient Address to a comparable tuple of str/None."""
    def s(v):
        return None if v is None else v.decode("utf-8")
    return (s(a.name), s(a.mailbox), s(a.host))


def new_user(pb, prefix="ic"):
    user = f"{prefix}{next(_counter)}x{os.getpid()}@example.org"
    pb.add_user(user, PW)
    return user


def smtp_send(to, raw):
    with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
        s.sendmail("bob@remote.test", [to], raw)


def simple(subject, body="Simple body.\r\n", to="alice@example.org"):
    return crlf(
        f"From: Bob <bob@remote.test>\nTo: {to}\nSubject: {subject}\n"
        f"Date: Mon, 01 Jun 2026 10:00:00 +0000\nMessage-ID: <s{next(_counter)}@remote.test>\n\n"
    ).encode() + body.encode()


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"test took longer than {TEST_TIMEOUT}s")


# ---------------------------------------------------------------- base

class Base(unittest.TestCase):
    pb = None

    @classmethod
    def setUpClass(cls):
        cls.pb = Pillarbox(plaintext_auth=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()
        log = cls.pb.server_log()
        if "panicked" in log:
            raise AssertionError(f"the server panicked during {cls.__name__}:\n{log[-4000:]}")

    def setUp(self):
        self.clients = []
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TEST_TIMEOUT)

    def tearDown(self):
        signal.alarm(0)
        for c in self.clients:
            try:
                c.logout()
            except Exception:
                try:
                    c.shutdown()
                except Exception:
                    pass


class CorpusMixin:
    """One account with the corpus (A, B over SMTP; C, D by APPEND with
    flags and internal dates); its tests only read it (EXAMINE). Sets
    `cls.user` and `cls.uids` ({"A": uid, ...})."""

    @classmethod
    def deliver_corpus(cls):
        cls.user = new_user(cls.pb, "corpus")
        smtp_send(cls.user, A)
        smtp_send(cls.user, B)
        m = imaplib.IMAP4_SSL("127.0.0.1", PORTS["imaps"], ssl_context=insecure_context(), timeout=30)
        try:
            m.login(cls.user, PW)
            for raw, flags, when in ((C, r"(\Flagged)", C_DATE), (D, r"(\Seen $Label1)", D_DATE)):
                typ, data = m.append("INBOX", flags, imaplib.Time2Internaldate(when), raw)
                assert typ == "OK", data
            m.select("INBOX", readonly=True)

            def uids():
                typ, data = m.uid("SEARCH", "ALL")
                return sorted(int(u) for u in data[0].split())
            wait_for(lambda: len(uids()) == 4, 10, "the corpus in INBOX")
            cls.uids = dict(zip("ABCD", uids()))
        finally:
            m.logout()


# ---------------------------------------------------------------- generated

SUBJECTS = ["plain ascii", "Grüße aus Köln", "日本語の件名", "a \"quoted\" subject, with comma",
            "back\\slash", "€uro prices ½ off", "x" * 150 + " long folded subject"]
NAMES = ["Doe, John", "Zoë Ørsted", 'Q "the quote" R', "plain name", "山田 太郎", None]
ASCII_NAMES = ["Doe, John", 'Q "the quote" R', "plain name", "back\\slash", None]


def generated_message(rnd, depth=0):
    """A random but deterministic MIME message built with Python's email
    package (its own encoder: RFC 2047 words, RFC 2231 names, folding)."""
    msg = email.message.EmailMessage()
    msg["Subject"] = rnd.choice(SUBJECTS)
    name = rnd.choice(NAMES)
    msg["From"] = email.headerregistry.Address(display_name=name or "", username=f"f{rnd.randrange(99)}",
                                               domain="remote.test")
    # ASCII display names in lists: CPython's folder may encode the comma
    # between two addresses into an encoded word ("=?utf-8?q?=2C?="), which
    # makes the header malformed (RFC 2047 §5: no encoded words in
    # addr-spec/separators). Non-ASCII names are tested in From.
    msg["To"] = [email.headerregistry.Address(display_name=rnd.choice(ASCII_NAMES) or "", username=f"t{i}",
                                              domain="example.org") for i in range(rnd.randrange(1, 4))]
    msg["Date"] = email.utils.format_datetime(datetime.datetime(2026, 5, rnd.randrange(1, 28), 12, 0,
                                                                tzinfo=datetime.timezone.utc))
    msg["Message-ID"] = f"<gen{rnd.randrange(10**9)}@remote.test>"
    kind = rnd.choice(["text", "alternative", "mixed", "mixed", "related"]) if depth < 2 else "text"
    text = rnd.choice(["hello world\n", "Grüße\nzweite Zeile\n", "日本語\n" * 3, "x" * 200 + "\n"])
    cte = rnd.choice([None, "quoted-printable", "base64", "8bit"])
    msg.set_content(text, cte=cte) if cte else msg.set_content(text)
    if kind == "alternative" or kind == "related":
        msg.add_alternative(f"<p>{text}</p>", subtype="html")
    if kind == "related":
        msg.get_payload()[1].add_related(bytes(rnd.randrange(256) for _ in range(300)), "image", "png",
                                         cid="<img1@gen>")
    if kind == "mixed":
        for _ in range(rnd.randrange(1, 4)):
            what = rnd.choice(["bin", "txt", "msg"])
            if what == "bin":
                msg.add_attachment(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 2000))),
                                   maintype="application", subtype="octet-stream",
                                   filename=rnd.choice(["data.bin", "résumé café.pdf", "日本.zip"]))
            elif what == "txt":
                msg.add_attachment("attached text ✓\n", filename="notes.txt")
            else:
                msg.add_attachment(generated_message(rnd, depth + 1))
    return msg


def email_leaves(m, path=()):
    """The same walk over Python's parse of the message."""
    if m.get_content_maintype() == "multipart":
        for i, p in enumerate(m.get_payload(), 1):
            yield from email_leaves(p, path + (i,))
        return
    path = path or (1,)
    yield path, m
    if m.get_content_type() == "message/rfc822":
        inner = m.get_payload()[0]
        yield from (email_leaves(inner, path) if inner.get_content_maintype() == "multipart"
                    else email_leaves(inner, path + (1,)))
