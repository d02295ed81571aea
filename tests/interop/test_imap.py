"""IMAP interop suite: real, independent clients (Python imaplib, curl,
mbsync) against the real binary over STARTTLS and implicit TLS, plus SMTP
delivery and POP3 on the same accounts. Run by .ci/run after the build.

    python3 tests/interop/test_imap.py -v

Every test uses its own fresh account, so tests are independent and a
missing server feature fails only the tests that use it.
"""

import base64
import datetime
import email
import imaplib
import itertools
import os
import poplib
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

from common import PORTS, Pillarbox, insecure_context, wait_for

PW = "correct horse battery staple"

# imaplib (3.11) does not know ID; declare it so _simple_command accepts it.
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED", "LOGOUT"))

_counter = itertools.count(1)


# ---------------------------------------------------------------- parsing

class _Parser:
    """A small parser for IMAP response data: parenthesised lists (Python
    lists), quoted strings (str), literals and literal8 (bytes), NIL (None),
    atoms (str; a `[...]` section inside an atom is kept whole, so
    `BODY[HEADER.FIELDS (SUBJECT)]` is one atom)."""

    def __init__(self, data):
        self.b = data
        self.i = 0

    def skip(self):
        while self.i < len(self.b) and self.b[self.i:self.i + 1] in (b" ", b"\r", b"\n"):
            self.i += 1

    def at_end(self):
        self.skip()
        return self.i >= len(self.b)

    def value(self):
        self.skip()
        c = self.b[self.i:self.i + 1]
        if c == b"(":
            self.i += 1
            out = []
            while True:
                self.skip()
                if self.b[self.i:self.i + 1] == b")":
                    self.i += 1
                    return out
                if self.i >= len(self.b):
                    raise ValueError(f"unterminated list in {self.b!r}")
                out.append(self.value())
        if c == b'"':
            self.i += 1
            out = bytearray()
            while True:
                ch = self.b[self.i:self.i + 1]
                if ch == b"\\":
                    out += self.b[self.i + 1:self.i + 2]
                    self.i += 2
                elif ch == b'"':
                    self.i += 1
                    return out.decode("utf-8", "surrogateescape")
                elif ch == b"":
                    raise ValueError(f"unterminated string in {self.b!r}")
                else:
                    out += ch
                    self.i += 1
        if c == b"{" or self.b[self.i:self.i + 2] == b"~{":
            m = re.compile(rb"~?\{(\d+)\+?\}\r\n").match(self.b, self.i)
            if not m:
                raise ValueError(f"bad literal at {self.b[self.i:self.i + 20]!r}")
            n = int(m.group(1))
            self.i = m.end() + n
            return self.b[m.end():self.i]
        start = self.i
        depth = 0
        while self.i < len(self.b):
            ch = self.b[self.i:self.i + 1]
            if ch == b"[":
                depth += 1
            elif ch == b"]":
                depth -= 1
            elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
                break
            self.i += 1
        atom = self.b[start:self.i].decode("utf-8", "surrogateescape")
        if not atom:
            raise ValueError(f"empty atom at {self.i} in {self.b!r}")
        return None if atom.upper() == "NIL" else atom


def parse_all(data):
    p = _Parser(data)
    out = []
    while not p.at_end():
        out.append(p.value())
    return out


def _responses(items):
    """imaplib's data list (bytes and (header, literal) tuples) back to one
    bytes string per response."""
    out, raw = [], b""
    for it in items:
        if it is None:
            continue
        if isinstance(it, tuple):
            raw += it[0] + b"\r\n" + it[1]
        else:
            out.append(raw + it)
            raw = b""
    if raw:
        out.append(raw)
    return out


def parse_fetch(items):
    """FETCH responses as {seq: {ITEM: value}} (items upper-cased)."""
    result = {}
    for r in _responses(items):
        vals = parse_all(r)
        seq, lst = int(vals[0]), vals[1]
        d = result.setdefault(seq, {})
        for k, v in zip(lst[0::2], lst[1::2]):
            d[k.upper()] = v
    return result


def by_uid(fetched):
    return {int(d["UID"]): d for d in fetched.values()}


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def flagset(v):
    """Flags, lower-cased, without \\Recent (gone in IMAP4rev2; a rev1 server
    may or may not show it)."""
    return {f.lower() for f in v} - {"\\recent"}


def ints(search_data):
    """`* SEARCH 1 2 3` data to a list of ints."""
    out = []
    for d in search_data:
        if d:
            out += [int(x) for x in d.split()]
    return out


def seqset(s):
    """An IMAP sequence set ("1:3,7") to a list of ints."""
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = part.split(":")
            a, b = int(a), int(b)
            out += list(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def command_status(fn, *args):
    """The completion of an imaplib call, "BAD" when imaplib raises on it."""
    try:
        return fn(*args)[0]
    except imaplib.IMAP4.error as e:
        return "BAD" if "BAD" in str(e) else f"error: {e}"


def ok(res):
    typ, data = res
    assert typ == "OK", f"expected OK, got {typ} {data!r}"
    return data


# ---------------------------------------------------------------- messages

def message(subject, body="Hello from the IMAP interop suite.\r\n", sender="Bob Sender <bob@remote.test>",
            to="alice@example.org", date="Mon, 01 Jun 2026 10:00:00 +0000", extra=""):
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{next(_counter)}@remote.test>\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}"
    ).encode()


def multipart(subject, to="alice@example.org"):
    return (
        f"From: Bob Sender <bob@remote.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Date: Mon, 01 Jun 2026 10:00:00 +0000\r\n"
        f"Message-ID: <mp.{next(_counter)}@remote.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe text part\r\n"
        "--b1\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
    ).encode()


def new_user(pb, prefix="u"):
    addr = f"{prefix}{next(_counter)}x{os.getpid()}@example.org"
    pb.add_user(addr, PW)
    return addr


def deliver(subject, to, body="Delivered over SMTP.\r\n"):
    with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
        s.sendmail("bob@remote.test", [to], message(subject, body=body, to=to))


def connect(transport="starttls"):
    if transport == "implicit":
        return imaplib.IMAP4_SSL("127.0.0.1", PORTS["imaps"], ssl_context=insecure_context(), timeout=30)
    m = imaplib.IMAP4("127.0.0.1", PORTS["imap"], timeout=30)
    m.starttls(insecure_context())
    return m


def login(user, transport="starttls"):
    m = connect(transport)
    ok(m.login(user, PW))
    return m


def close_quietly(m):
    try:
        m.sock.settimeout(5)
        m.logout()
    except Exception:
        try:
            m.shutdown()
        except Exception:
            pass


def list_names(m, ref='""', pattern="*"):
    data = ok(m.list(ref, pattern))
    out = {}
    for d in data:
        if d is None:
            continue
        if isinstance(d, tuple):  # name sent as a literal
            d = d[0] + b"\r\n" + d[1]
        attrs, delim, name = parse_all(d)[:3]
        out[text(name)] = (flagset(attrs), delim)
    return out


def status(m, mailbox, items="(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"):
    data = ok(m.status(mailbox, items))
    vals = parse_all(data[0])
    lst = vals[1]
    return {k.upper(): int(v) for k, v in zip(lst[0::2], lst[1::2])}


def subjects(m, mailbox="INBOX"):
    """Subjects of all messages in a mailbox, by UID (EXAMINE, read-only)."""
    ok(m.select(mailbox, readonly=True))
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", data
    out = {}
    for uid, d in by_uid(parse_fetch(data)).items():
        hdr = d["BODY[HEADER.FIELDS (SUBJECT)]"]
        out[uid] = email.message_from_bytes(hdr)["Subject"]
    return out


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

    def tearDown(self):
        for m in self.clients:
            close_quietly(m)

    def imap(self, user, transport="starttls"):
        m = login(user, transport)
        self.clients.append(m)
        return m

    def append(self, m, mailbox, msg, flags="()", date=None):
        date = date or imaplib.Time2Internaldate(time.time())
        data = ok(m.append(mailbox, flags, date, msg))
        mo = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
        return int(mo.group(2)) if mo else None


# ---------------------------------------------------------------- commands

class CommandsMixin:
    """Every command through imaplib; run over STARTTLS and implicit TLS."""

    TRANSPORT = "starttls"

    def session(self, user):
        return self.imap(user, self.TRANSPORT)

    def test_capability_and_login(self):
        user = new_user(self.pb)
        if self.TRANSPORT == "starttls":
            m = imaplib.IMAP4("127.0.0.1", PORTS["imap"], timeout=30)
            self.clients.append(m)
            self.assertIn("STARTTLS", m.capabilities)
            self.assertIn("LOGINDISABLED", m.capabilities)
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(user, PW)
            m.starttls(insecure_context())
        else:
            m = connect("implicit")
            self.clients.append(m)
        caps = m.capabilities
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertNotIn("STARTTLS", caps)
        for c in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ENABLE", "QRESYNC", "AUTH=PLAIN"):
            self.assertIn(c, caps)
        typ, data = m.capability()
        self.assertEqual(typ, "OK")
        self.assertIn(b"IMAP4rev1", data[0])
        with self.assertRaises(imaplib.IMAP4.error):
            m.login(user, "wrong password")
        typ, data = m.login(user, PW)
        self.assertEqual(typ, "OK")
        self.assertEqual(m.state, "AUTH")
        typ, data = m.logout()
        self.assertEqual(typ, "BYE")

    def test_authenticate_plain(self):
        user = new_user(self.pb)
        m = connect(self.TRANSPORT)
        self.clients.append(m)
        typ, data = m.authenticate("PLAIN", lambda _: f"\0{user}\0{PW}".encode())
        self.assertEqual(typ, "OK", data)
        self.assertEqual(m.state, "AUTH")
        ok(m.select("INBOX"))
        m2 = connect(self.TRANSPORT)
        self.clients.append(m2)
        with self.assertRaises(imaplib.IMAP4.error):
            m2.authenticate("PLAIN", lambda _: f"\0{user}\0nope".encode())

    def test_list_lsub_create_rename_delete_subscribe(self):
        user = new_user(self.pb)
        m = self.session(user)
        names = list_names(m)
        self.assertIn("INBOX", names)
        self.assertEqual(names["INBOX"][1], "/")
        ok(m.create("Work"))
        ok(m.create("Work/Sub"))
        ok(m.create('"My Folder"'))
        ok(m.create("&AMk-t&AOk-"))  # "Été" in modified UTF-7 (RFC 3501 5.1.3)
        self.assertEqual(m.create("Work")[0], "NO")  # exists
        names = list_names(m)
        self.assertIn("Work/Sub", names)
        self.assertIn("My Folder", names)
        self.assertIn("&AMk-t&AOk-", names)
        self.assertIn("\\haschildren", names["Work"][0])
        self.assertIn("\\hasnochildren", names["Work/Sub"][0])
        self.assertEqual(set(list_names(m, '""', "Work/%")), {"Work/Sub"})
        self.assertNotIn("Work/Sub", list_names(m, '""', "%"))

        ok(m.rename("Work", "Projects"))
        names = list_names(m)
        self.assertNotIn("Work", names)
        self.assertNotIn("Work/Sub", names)
        self.assertIn("Projects", names)
        self.assertIn("Projects/Sub", names, "RENAME moves the children too")

        ok(m.subscribe("Projects"))
        ok(m.subscribe('"My Folder"'))
        data = ok(m.lsub('""', "*"))
        lsub = {text(parse_all(d)[2]) for d in data if d}
        self.assertIn("Projects", lsub)
        self.assertIn("My Folder", lsub)
        ok(m.unsubscribe('"My Folder"'))
        data = ok(m.lsub('""', "*"))
        self.assertNotIn("My Folder", {text(parse_all(d)[2]) for d in data if d})

        ok(m.delete("Projects/Sub"))
        ok(m.delete('"My Folder"'))
        names = list_names(m)
        self.assertNotIn("Projects/Sub", names)
        self.assertNotIn("My Folder", names)
        self.assertEqual(m.delete("INBOX")[0], "NO")
        self.assertEqual(m.delete("Nonexistent")[0], "NO")
        self.assertEqual(m.select("Nonexistent")[0], "NO")

    def test_select_examine_status(self):
        user = new_user(self.pb)
        deliver("one", user)
        deliver("two", user)
        m = self.session(user)
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"2"]))
        uidvalidity = int(m.response("UIDVALIDITY")[1][0])
        self.assertGreater(uidvalidity, 0)
        self.assertEqual(m.response("UIDNEXT")[1], [b"3"])
        self.assertIn(b"\\Seen", m.response("FLAGS")[1][0])
        ok(m.store("1", "+FLAGS", "(\\Seen)"))
        ok(m.close())
        st = status(m, "INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)")
        self.assertEqual(st["MESSAGES"], 2)
        self.assertEqual(st["UIDNEXT"], 3)
        self.assertEqual(st["UIDVALIDITY"], uidvalidity)
        self.assertEqual(st["UNSEEN"], 1)
        self.assertGreater(st["SIZE"], 100)
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK")
        self.assertIn("READ-ONLY", m.untagged_responses, "EXAMINE completes with [READ-ONLY]")
        # EXAMINE is read-only: STORE fails, and fetching BODY[] does not set \Seen
        self.assertEqual(m.store("2", "+FLAGS", "(\\Flagged)")[0], "NO")
        ok(m.fetch("2", "(BODY[])"))
        f = parse_fetch(ok(m.fetch("2", "(FLAGS)")))
        self.assertNotIn("\\seen", flagset(f[2]["FLAGS"]))

    def test_append_with_flags_and_date(self):
        user = new_user(self.pb)
        m = self.session(user)
        ok(m.create("Drafts2"))
        raw = message("appended", body="Appended body.\r\n")
        when = datetime.datetime(2020, 2, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        uid = self.append(m, "Drafts2", raw, "(\\Seen \\Draft $Custom)", imaplib.Time2Internaldate(when))
        self.assertEqual(uid, 1, "APPENDUID with the new UID")
        raw2 = message("second")
        self.assertEqual(self.append(m, "Drafts2", raw2), 2)
        self.assertEqual(m.append("Nonexistent", None, None, raw)[0], "NO")
        ok(m.select("Drafts2"))
        f = parse_fetch(ok(m.fetch("1:2", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")))
        self.assertEqual(flagset(f[1]["FLAGS"]), {"\\seen", "\\draft", "$custom"})
        self.assertEqual(f[1]["RFC822.SIZE"], str(len(raw)))
        self.assertEqual(f[1]["BODY[]"], raw)
        self.assertEqual(f[2]["BODY[]"], raw2)
        self.assertEqual(flagset(f[2]["FLAGS"]), set())
        got = imaplib.Internaldate2tuple(b'INTERNALDATE "' + f[1]["INTERNALDATE"].encode() + b'"')
        self.assertEqual(time.mktime(got), when.timestamp())

    def test_fetch_items(self):
        user = new_user(self.pb)
        m = self.session(user)
        raw = message("Fetch me", body="Line one.\r\nLine two.\r\n",
                      sender="Bob Sender <bob@remote.test>", to="Alice <alice@example.org>",
                      extra="Cc: carol@example.org\r\nIn-Reply-To: <parent@remote.test>\r\n")
        self.append(m, "INBOX", raw)
        mp = multipart("Multi part")
        self.append(m, "INBOX", mp)
        ok(m.select("INBOX"))
        f = parse_fetch(ok(m.fetch("1", "(FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)")))[1]
        self.assertEqual(flagset(f["FLAGS"]), set())
        self.assertEqual(f["UID"], "1")
        self.assertEqual(int(f["RFC822.SIZE"]), len(raw))
        env = f["ENVELOPE"]
        self.assertEqual(text(env[0]), "Mon, 01 Jun 2026 10:00:00 +0000")
        self.assertEqual(text(env[1]), "Fetch me")
        self.assertEqual([text(x) for x in env[2][0]], ["Bob Sender", None, "bob", "remote.test"])
        self.assertEqual(env[3], env[2], "Sender defaults to From")
        self.assertEqual(env[4], env[2], "Reply-To defaults to From")
        self.assertEqual([text(x) for x in env[5][0]], ["Alice", None, "alice", "example.org"])
        self.assertEqual([text(x) for x in env[6][0]], [None, None, "carol", "example.org"])
        self.assertIsNone(env[7])
        self.assertEqual(text(env[8]), "<parent@remote.test>")
        self.assertTrue(text(env[9]).startswith("<Fetch.me."))
        bs = f["BODYSTRUCTURE"]
        self.assertEqual((bs[0].upper(), bs[1].upper()), ("TEXT", "PLAIN"))
        self.assertEqual([x.upper() for x in bs[2]], ["CHARSET", "US-ASCII"])
        self.assertEqual(int(bs[6]), len(b"Line one.\r\nLine two.\r\n"))
        self.assertEqual(int(bs[7]), 2, "text parts have a line count")

        f = parse_fetch(ok(m.fetch("2", "(BODYSTRUCTURE BODY[1] BODY.PEEK[2.MIME])")))[2]
        bs = f["BODYSTRUCTURE"]
        parts = [p for p in bs if isinstance(p, list)]
        subtype = next(p for p in bs if not isinstance(p, list))
        self.assertEqual(subtype.upper(), "MIXED")
        self.assertEqual((parts[0][0].upper(), parts[0][1].upper()), ("TEXT", "PLAIN"))
        self.assertEqual((parts[1][0].upper(), parts[1][1].upper()), ("APPLICATION", "PDF"))
        self.assertEqual(parts[1][5].upper(), "BASE64")
        self.assertEqual(f["BODY[1]"], b"the text part")
        self.assertIn(b"Content-Disposition: attachment", f["BODY[2.MIME]"])

        # PEEK leaves \Seen alone; the header fields come with the blank line
        f = parse_fetch(ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")))[1]
        self.assertEqual(f["BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: Fetch me\r\n\r\n")
        f = parse_fetch(ok(m.fetch("1", "(FLAGS)")))[1]
        self.assertEqual(flagset(f["FLAGS"]), set())
        # partial
        f = parse_fetch(ok(m.fetch("1", "(BODY.PEEK[]<0.10>)")))[1]
        self.assertEqual(f["BODY[]<0>"], raw[:10])
        f = parse_fetch(ok(m.fetch("1", "(BODY.PEEK[TEXT]<5.100>)")))[1]
        self.assertEqual(f["BODY[TEXT]<5>"], b"Line one.\r\nLine two.\r\n"[5:])
        # BODY[] sets \Seen (reported with the fetch or in the same response)
        data = ok(m.fetch("1", "(BODY[])"))
        f = parse_fetch(data)[1]
        self.assertEqual(f["BODY[]"], raw)
        f = parse_fetch(ok(m.fetch("1", "(FLAGS)")))[1]
        self.assertEqual(flagset(f["FLAGS"]), {"\\seen"})
        # RFC822.HEADER / RFC822 / UID FETCH by range
        f = parse_fetch(ok(m.fetch("1", "(RFC822.HEADER)")))[1]
        self.assertTrue(f["RFC822.HEADER"].endswith(b"\r\n\r\n"))
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
        self.assertEqual(typ, "OK")
        self.assertEqual(sorted(by_uid(parse_fetch(data))), [1, 2])
        # "n:*" with n above the highest UID still means the last message
        # (RFC 9051 6.4.8), the usual "anything new?" poll of clients
        typ, data = m.uid("FETCH", "7:*", "(UID)")
        self.assertEqual(typ, "OK")
        self.assertEqual(sorted(by_uid(parse_fetch(data))), [2])
        typ, data = m.uid("FETCH", "5:6", "(UID)")
        self.assertEqual(typ, "OK")
        self.assertEqual(parse_fetch(data), {}, "UIDs that do not exist are no error")
        self.assertIn(command_status(m.fetch, "9", "(FLAGS)"), ("NO", "BAD"))

    def test_uid_search(self):
        user = new_user(self.pb)
        m = self.session(user)
        old = imaplib.Time2Internaldate(datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone.utc))
        new = imaplib.Time2Internaldate(datetime.datetime(2025, 6, 1, 12, tzinfo=datetime.timezone.utc))
        self.append(m, "INBOX", message("alpha report", body="contains the needle word\r\n"), "(\\Seen)", old)
        self.append(m, "INBOX", message("beta notes", body="nothing here\r\n"), "(\\Flagged)", new)
        self.append(m, "INBOX", message("gamma report", body="another needle\r\n"), "()", new)
        ok(m.select("INBOX"))

        def uids(*criteria):
            typ, data = m.uid("SEARCH", *criteria)
            self.assertEqual(typ, "OK", data)
            return sorted(ints(data))

        self.assertEqual(uids("ALL"), [1, 2, 3])
        self.assertEqual(uids("SEEN"), [1])
        self.assertEqual(uids("UNSEEN"), [2, 3])
        self.assertEqual(uids("FLAGGED"), [2])
        self.assertEqual(uids("UNFLAGGED", "UNSEEN"), [3])
        self.assertEqual(uids("SUBJECT", "report"), [1, 3])
        self.assertEqual(uids("SUBJECT", '"beta notes"'), [2])
        self.assertEqual(uids("BODY", "needle"), [1, 3])
        self.assertEqual(uids("TEXT", "needle"), [1, 3])
        self.assertEqual(uids("SINCE", "1-Jan-2024"), [2, 3])
        self.assertEqual(uids("BEFORE", "1-Jan-2024"), [1])
        self.assertEqual(uids("OR", "FLAGGED", "SEEN"), [1, 2])
        self.assertEqual(uids("NOT", "SUBJECT", "report"), [2])
        self.assertEqual(uids("UID", "2:*"), [2, 3])
        self.assertEqual(uids("FROM", "bob@remote.test"), [1, 2, 3])
        self.assertEqual(uids("SUBJECT", "nomatch"), [])
        typ, data = m.search(None, "SUBJECT", "gamma")
        self.assertEqual(ints(data), [3])

    def test_store_flags(self):
        user = new_user(self.pb)
        m = self.session(user)
        for i in range(3):
            self.append(m, "INBOX", message(f"store {i}"))
        ok(m.select("INBOX"))
        f = parse_fetch(ok(m.store("1:2", "+FLAGS", "(\\Flagged $Label1)")))
        self.assertEqual(sorted(f), [1, 2])
        self.assertEqual(flagset(f[1]["FLAGS"]), {"\\flagged", "$label1"})
        f = parse_fetch(ok(m.store("1", "-FLAGS", "(\\Flagged)")))
        self.assertEqual(flagset(f[1]["FLAGS"]), {"$label1"})
        f = parse_fetch(ok(m.store("3", "FLAGS", "(\\Answered \\Seen)")))
        self.assertEqual(flagset(f[3]["FLAGS"]), {"\\answered", "\\seen"})
        typ, data = m.store("2", "+FLAGS.SILENT", "(\\Seen)")
        self.assertEqual(typ, "OK")
        self.assertEqual([d for d in data if d], [], "FLAGS.SILENT sends no FETCH")
        typ, data = m.uid("STORE", "2", "-FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        f = by_uid(parse_fetch(data))
        self.assertEqual(flagset(f[2]["FLAGS"]), {"$label1", "\\seen"})
        self.assertEqual(f[2]["UID"], "2")
        f = parse_fetch(ok(m.fetch("1:3", "(FLAGS)")))
        self.assertEqual(flagset(f[1]["FLAGS"]), {"$label1"})
        self.assertEqual(flagset(f[2]["FLAGS"]), {"$label1", "\\seen"})
        self.assertEqual(flagset(f[3]["FLAGS"]), {"\\answered", "\\seen"})

    def test_copy_and_move(self):
        user = new_user(self.pb)
        m = self.session(user)
        for i in range(4):
            self.append(m, "INBOX", message(f"cm {i}"), "(\\Flagged)" if i == 0 else "()")
        ok(m.create("Saved"))
        ok(m.select("INBOX"))
        ok(m.status("Saved", "(UIDVALIDITY)"))
        av = status(m, "Saved", "(UIDVALIDITY)")["UIDVALIDITY"]
        data = ok(m.copy("1:2", "Saved"))
        mo = re.search(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", data[0])
        self.assertIsNotNone(mo, f"COPYUID in {data!r}")
        self.assertEqual(int(mo.group(1)), av)
        self.assertEqual(seqset(mo.group(2).decode()), [1, 2])
        self.assertEqual(seqset(mo.group(3).decode()), [1, 2])
        typ, data = m.uid("COPY", "2", "Saved")
        self.assertEqual(typ, "OK", data)
        self.assertRegex(m.response("COPYUID")[1][-1] or b"", rb"^\d+ 2 3$")
        typ, data = m.copy("1", "Nonexistent")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])

        m.untagged_responses.pop("COPYUID", None)
        typ, data = m._simple_command("MOVE", "3", "Saved")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(m.response("EXPUNGE")[1], [b"3"])
        copyuid = (m.response("COPYUID")[1][0] or b"") + (data[0] or b"")
        self.assertRegex(copyuid, rb"\d+ 3 4")
        typ, data = m.uid("MOVE", "4", "Saved")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(m.response("EXPUNGE")[1], [b"3"])
        self.assertEqual(sorted(subjects(m, "INBOX").values()), ["cm 0", "cm 1"])
        arch = subjects(m, "Saved")
        self.assertEqual(arch, {1: "cm 0", 2: "cm 1", 3: "cm 1", 4: "cm 2", 5: "cm 3"})
        f = by_uid(parse_fetch(ok(m.uid("FETCH", "1", "(FLAGS)"))))
        self.assertIn("\\flagged", flagset(f[1]["FLAGS"]), "COPY keeps flags")

    def test_expunge_uid_expunge_close(self):
        user = new_user(self.pb)
        m = self.session(user)
        for i in range(6):
            self.append(m, "INBOX", message(f"ex {i + 1}"))
        ok(m.select("INBOX"))
        ok(m.store("1,3", "+FLAGS", "(\\Deleted)"))
        typ, data = m.expunge()
        self.assertEqual(typ, "OK")
        live = [1, 2, 3, 4, 5, 6]
        for seq in data:
            live.pop(int(seq) - 1)
        self.assertEqual(live, [2, 4, 5, 6], f"EXPUNGE responses {data!r}")
        # UID EXPUNGE removes only the given UIDs among the \Deleted ones
        ok(m.uid("STORE", "4,5", "+FLAGS", "(\\Deleted)"))
        typ, data = m.uid("EXPUNGE", "5")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(m.response("EXPUNGE")[1], [b"3"])
        self.assertEqual(sorted(subjects(m).values()), ["ex 2", "ex 4", "ex 6"])
        # EXAMINE + CLOSE does not expunge; SELECT + CLOSE does, silently
        ok(m.close())
        self.assertEqual(status(m, "INBOX")["MESSAGES"], 3)
        ok(m.select("INBOX"))
        typ, data = m.close()
        self.assertEqual(typ, "OK")
        self.assertIsNone(m.response("EXPUNGE")[1][0], "CLOSE expunges silently")
        self.assertEqual(m.state, "AUTH")
        self.assertEqual(status(m, "INBOX")["MESSAGES"], 2)
        self.assertEqual(sorted(subjects(m).values()), ["ex 2", "ex 6"])

    def test_noop_namespace_id_enable_unselect_logout(self):
        user = new_user(self.pb)
        m = self.session(user)
        typ, data = m.namespace()
        self.assertEqual(typ, "OK")
        ns = parse_all(data[0])
        self.assertEqual(ns[0][0][1], "/")
        typ, data = m._simple_command("ID", '("name" "interop" "version" "1")')
        self.assertEqual(typ, "OK", data)
        idr = m.response("ID")[1][0]
        self.assertIsNotNone(idr, "untagged ID response")
        parsed = parse_all(idr)[0]
        self.assertTrue(parsed is None or isinstance(parsed, list))
        typ, data = m.enable("CONDSTORE")
        self.assertEqual(typ, "OK")
        self.assertIn(b"CONDSTORE", (m.response("ENABLED")[1][0] or b"").upper())
        ok(m.noop())
        ok(m.select("INBOX"))
        ok(m.noop())
        ok(m.check())
        ok(m.unselect())
        self.assertEqual(m.state, "AUTH")
        typ, data = m.logout()
        self.assertEqual(typ, "BYE")

    def test_large_append_and_partial_fetch(self):
        user = new_user(self.pb)
        m = self.session(user)
        line = b"".join(bytes([65 + (i % 26)]) for i in range(76)) + b"\r\n"
        raw = message("big one", body="") + line * (3 * 1024 * 1024 // len(line))
        self.assertEqual(self.append(m, "INBOX", raw), 1)
        ok(m.select("INBOX"))
        f = parse_fetch(ok(m.fetch("1", "(RFC822.SIZE BODY.PEEK[]<1000000.1000>)")))[1]
        self.assertEqual(int(f["RFC822.SIZE"]), len(raw))
        self.assertEqual(f["BODY[]<1000000>"], raw[1000000:1001000])
        f = parse_fetch(ok(m.fetch("1", "(BODY.PEEK[])")))[1]
        self.assertEqual(f["BODY[]"], raw)
        st = status(m, "INBOX", "(MESSAGES SIZE)")
        self.assertEqual(st["SIZE"], len(raw))

    def test_search_decodes_headers_and_bodies(self):
        user = new_user(self.pb)
        m = self.session(user)
        utf8 = (
            "From: bob@remote.test\r\nTo: alice@example.org\r\n"
            "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nSchöne Grüße vom Dom.\r\n"
        ).encode()
        b64 = (
            "From: bob@remote.test\r\nTo: alice@example.org\r\nSubject: encoded body\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(b"The hidden treasure is here.\r\n").decode() + "\r\n"
        ).encode()
        self.append(m, "INBOX", utf8)
        self.append(m, "INBOX", b64)
        ok(m.select("INBOX"))
        f = parse_fetch(ok(m.fetch("1", "(ENVELOPE)")))[1]
        self.assertEqual(text(f["ENVELOPE"][1]), "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
                         "ENVELOPE carries the raw (encoded) subject")

        def uids(key, value):
            m.literal = value.encode()
            typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", key)
            self.assertEqual(typ, "OK", data)
            return sorted(ints(data))

        self.assertEqual(uids("SUBJECT", "Köln"), [1], "SUBJECT matches the decoded encoded-word")
        self.assertEqual(uids("BODY", "Grüße"), [1], "BODY matches 8-bit UTF-8 text")
        typ, data = m.uid("SEARCH", "BODY", "treasure")
        self.assertEqual(ints(data), [2], "BODY matches base64-decoded text")
        typ, data = m.uid("SEARCH", "BODY", "VGhl")
        self.assertEqual(ints(data), [], "BODY does not match the base64 form")

    def test_quota(self):
        user = new_user(self.pb)
        m = self.session(user)
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK", data)
        self.assertEqual([q for q in data[1] if q], [], "no limit: no QUOTA response")
        self.pb.cli("user", "quota", user, "--quota", str(1024 * 1024))
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK", data)
        root = parse_all(data[0][0])
        self.assertEqual(text(root[0]).upper(), "INBOX")
        self.assertEqual(len(root), 2, f"one quota root: {root!r}")
        quota = parse_all(data[1][0])
        self.assertEqual(quota[0], root[1])
        self.assertEqual([x.upper() if i == 0 else int(x) for i, x in enumerate(quota[1])], ["STORAGE", 0, 1024])
        big = message("big", body="x" * (600 * 1024) + "\r\n")
        self.append(m, "INBOX", big)
        typ, data = m.getquota(f'"{root[1]}"')
        self.assertEqual(typ, "OK", data)
        usage = int(parse_all(data[0])[1][1])
        self.assertEqual(usage, -(-len(big) // 1024), "usage in KiB, rounded up")
        typ, data = m.append("INBOX", None, None, big)
        self.assertEqual(typ, "NO", data)
        self.assertIn(b"[OVERQUOTA]", data[0])
        self.assertEqual(status(m, "INBOX")["MESSAGES"], 1)

    def test_idle_wakes_on_delivery(self):
        user = new_user(self.pb)
        deliver("before idle", user)
        m = self.session(user)
        ok(m.select("INBOX"))
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        m.sock.settimeout(10)
        line = m.readline()
        self.assertTrue(line.startswith(b"+"), line)
        t0 = time.monotonic()
        deliver("during idle", user)
        self.assertRegex(self.idle_until(m, rb"\* 2 EXISTS"), rb"\* 2 EXISTS")
        self.assertLess(time.monotonic() - t0, 10)
        # changes by another session are pushed too
        other = self.session(user)
        ok(other.select("INBOX"))
        ok(other.store("1", "+FLAGS", "(\\Flagged)"))
        line = self.idle_until(m, rb"\* 1 FETCH")
        self.assertIn("\\flagged", flagset(parse_fetch([line[2:].replace(b" FETCH", b"", 1).rstrip(b"\r\n")])[1]["FLAGS"]))
        ok(other.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
        ok(other.expunge())
        self.idle_until(m, rb"\* 1 EXPUNGE")
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            self.assertTrue(line, "connection closed after DONE")
            if line.startswith(tag):
                self.assertRegex(line, rb"^\S+ OK")
                break
        m.sock.settimeout(30)
        self.assertEqual(sorted(subjects(m).values()), ["during idle"])

    def idle_until(self, m, pattern):
        """Reads pushed lines during IDLE until one matches (10 s bound)."""
        seen = []
        while True:
            try:
                line = m.readline()
            except (socket.timeout, TimeoutError):
                self.fail(f"no {pattern!r} during IDLE within 10 s; got {seen!r}")
            self.assertTrue(line, f"connection closed during IDLE after {seen!r}")
            seen.append(line)
            if re.match(pattern, line):
                return line


class StarttlsCommands(CommandsMixin, Base):
    TRANSPORT = "starttls"


class ImapsCommands(CommandsMixin, Base):
    TRANSPORT = "implicit"


# ---------------------------------------------------------------- extensions

class Raw:
    """A bare IMAP connection over implicit TLS for what imaplib cannot say
    (LITERAL+, MULTIAPPEND, SASL-IR, ESEARCH, ...)."""

    def __init__(self):
        sock = socket.create_connection(("127.0.0.1", PORTS["imaps"]), timeout=30)
        self.s = insecure_context().wrap_socket(sock)
        self.f = self.s.makefile("rb")
        self.n = 0
        self.greeting = self.response()

    def response(self):
        """One response line with its literals inlined."""
        out = self.f.readline()
        if not out:
            raise EOFError("connection closed")
        while (mo := re.search(rb"~?\{(\d+)\+?\}\r\n$", out)):
            out += self.f.read(int(mo.group(1)))
            out += self.f.readline()
        return out

    def cmd(self, text):
        """Sends `tag text` (bytes or str); returns (untagged, tagged)."""
        self.n += 1
        tag = b"r%d" % self.n
        self.s.sendall(tag + b" " + (text.encode() if isinstance(text, str) else text) + b"\r\n")
        untagged = []
        while True:
            r = self.response()
            if r.startswith(tag + b" "):
                return untagged, r
            untagged.append(r)

    def ok(self, text):
        untagged, tagged = self.cmd(text)
        assert re.match(rb"r\d+ OK", tagged), f"{text!r} -> {tagged!r}"
        return untagged, tagged

    def drop(self):
        """Drops the connection without a word."""
        self.s.shutdown(socket.SHUT_RDWR)
        self.f.close()
        self.s.close()

    def close(self):
        if self.s.fileno() == -1:
            return
        try:
            self.s.settimeout(5)
            self.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        self.f.close()
        self.s.close()


class ExtensionsTests(Base):
    """Extensions CAPABILITY advertises and protocol behaviour imaplib cannot
    show, spoken raw."""

    def raw(self, user=None):
        r = Raw()
        self.addCleanup(r.close)
        if user:
            r.ok(f'LOGIN "{user}" "{PW}"')
        return r

    def test_sasl_ir(self):
        user = new_user(self.pb)
        r = self.raw()
        ir = base64.b64encode(f"\0{user}\0{PW}".encode()).decode()
        _, tagged = r.cmd(f"AUTHENTICATE PLAIN {ir}")
        self.assertRegex(tagged, rb"^r1 OK")
        r.ok("SELECT INBOX")

    def test_literal_plus_and_multiappend(self):
        user = new_user(self.pb)
        r = self.raw(user)
        m1, m2 = message("multi one"), message("multi two")
        _, tagged = r.ok(b"APPEND INBOX (\\Seen) {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s"
                         % (len(m1), m1, len(m2), m2))
        mo = re.search(rb"\[APPENDUID \d+ ([\d:,]+)\]", tagged)
        self.assertIsNotNone(mo, tagged)
        self.assertEqual(seqset(mo.group(1).decode()), [1, 2])
        untagged, _ = r.ok("STATUS INBOX (MESSAGES)")
        self.assertIn(b"(MESSAGES 2)", untagged[0])

    def test_esearch_and_searchres(self):
        user = new_user(self.pb)
        for i in range(4):
            deliver(f"es {i}", user)
        r = self.raw(user)
        r.ok("SELECT INBOX")
        r.ok("STORE 2,4 +FLAGS (\\Flagged)")
        untagged, _ = r.ok("UID SEARCH RETURN (MIN MAX COUNT ALL) ALL")
        self.assertEqual(len(untagged), 1, untagged)
        self.assertRegex(untagged[0], rb'^\* ESEARCH \(TAG "r\d+"\) UID ')
        for item in (rb"MIN 1\b", rb"MAX 4\b", rb"COUNT 4\b", rb"ALL 1:4\b"):
            self.assertRegex(untagged[0], item)
        untagged, _ = r.ok("SEARCH RETURN (SAVE) FLAGGED")
        self.assertEqual([u for u in untagged if u.startswith(b"* ESEARCH")], [], "SAVE alone returns nothing")
        untagged, _ = r.ok("FETCH $ (UID)")
        self.assertEqual(sorted(int(x) for x in re.findall(rb"UID (\d+)", b"".join(untagged))), [2, 4])

    def test_list_extended_and_list_status(self):
        user = new_user(self.pb)
        deliver("ls", user)
        r = self.raw(user)
        r.ok("CREATE Lists")
        r.ok("CREATE Lists/Child")
        r.ok("SUBSCRIBE Lists/Child")
        untagged, _ = r.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
        joined = b"".join(untagged)
        self.assertRegex(joined, rb'\* STATUS "?INBOX"? \(MESSAGES 1 UNSEEN 1\)')
        self.assertRegex(joined, rb'\* STATUS "?Lists"? \(MESSAGES 0 UNSEEN 0\)')
        untagged, _ = r.ok('LIST (SUBSCRIBED) "" "Lists*"')
        names = [u for u in untagged if u.startswith(b"* LIST")]
        self.assertEqual(len(names), 1, names)
        self.assertIn(b"\\Subscribed", names[0])
        self.assertIn(b"Lists/Child", names[0])
        untagged, _ = r.ok('LIST (SPECIAL-USE) "" "*"')
        self.assertTrue(all(re.search(rb"\\(Sent|Drafts|Trash|Junk|Archive|All|Flagged)", u)
                            for u in untagged if u.startswith(b"* LIST")), untagged)
        untagged, _ = r.ok('LIST "" "%" RETURN (CHILDREN)')
        lists = [u for u in untagged if b'"Lists"' in u or u.rstrip().endswith(b" Lists")]
        self.assertIn(b"\\HasChildren", lists[0])

    def test_condstore(self):
        user = new_user(self.pb)
        deliver("cs 1", user)
        deliver("cs 2", user)
        r = self.raw(user)
        untagged, _ = r.ok("SELECT INBOX (CONDSTORE)")
        highest = int(re.search(rb"\[HIGHESTMODSEQ (\d+)\]", b"".join(untagged)).group(1))
        untagged, _ = r.ok("FETCH 1 (MODSEQ)")
        m1 = int(re.search(rb"MODSEQ \((\d+)\)", untagged[0]).group(1))
        untagged, tagged = r.ok(f"STORE 1 (UNCHANGEDSINCE {m1}) +FLAGS (\\Flagged)")
        m2 = int(re.search(rb"MODSEQ \((\d+)\)", b"".join(untagged)).group(1))
        self.assertGreater(m2, m1)
        untagged, tagged = r.ok(f"STORE 1 (UNCHANGEDSINCE {m1}) -FLAGS (\\Flagged)")
        self.assertRegex(tagged, rb"\[MODIFIED 1\]")
        untagged, _ = r.ok(f"SEARCH MODSEQ {m2}")
        self.assertRegex(b"".join(untagged), rb"\* SEARCH 1 \(MODSEQ \d+\)")
        untagged, _ = r.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
        self.assertEqual([u.split()[1] for u in untagged if b"FETCH" in u], [b"1"], untagged)

    def test_binary(self):
        user = new_user(self.pb)
        r = self.raw(user)
        mp = multipart("binary")
        r.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(mp), mp))
        r.ok("SELECT INBOX")
        untagged, _ = r.ok("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])")
        self.assertIn(b"BINARY.SIZE[2] 9", untagged[0])
        self.assertIn(b"%PDF-1.4\n", untagged[0])
        self.assertRegex(untagged[0], rb"BINARY\[2\] ~?\{9\}\r\n%PDF-1\.4\n")

    def test_objectid_savedate_within(self):
        user = new_user(self.pb)
        deliver("oid", user)
        r = self.raw(user)
        untagged, _ = r.ok("SELECT INBOX")
        self.assertRegex(b"".join(untagged), rb"\[MAILBOXID \([^)]+\)\]")
        untagged, _ = r.ok("FETCH 1 (EMAILID THREADID SAVEDATE)")
        self.assertRegex(untagged[0], rb"EMAILID \([^)]+\)")
        self.assertRegex(untagged[0], rb"THREADID (NIL|\([^)]+\))")
        self.assertRegex(untagged[0], rb'SAVEDATE (NIL|"[^"]+")')
        untagged, _ = r.ok("UID SEARCH YOUNGER 3600")
        self.assertRegex(b"".join(untagged), rb"\* SEARCH 1\s")
        untagged, _ = r.ok("UID SEARCH OLDER 3600")
        self.assertRegex(b"".join(untagged), rb"\* SEARCH\s*\r\n")
        untagged, _ = r.ok("UID SEARCH SAVEDSINCE 1-Jan-2020")
        self.assertRegex(b"".join(untagged), rb"\* SEARCH 1\s")

    def test_imap4rev2_mode(self):
        user = new_user(self.pb)
        deliver("rev2 one", user)
        deliver("rev2 two", user)
        r = self.raw(user)
        untagged, _ = r.ok("ENABLE IMAP4rev2")
        self.assertIn(b"IMAP4REV2", b"".join(untagged).upper())
        untagged, _ = r.ok("SELECT INBOX")
        joined = b"".join(untagged)
        self.assertIn(b"* 2 EXISTS", joined)
        self.assertNotIn(b"RECENT", joined, "no RECENT in IMAP4rev2")
        untagged, _ = r.ok("UID SEARCH ALL")
        self.assertEqual(len(untagged), 1, untagged)
        self.assertRegex(untagged[0], rb'^\* ESEARCH \(TAG "r\d+"\) UID ALL 1:2\r\n$',
                         "SEARCH answers with ESEARCH in IMAP4rev2")
        untagged, _ = r.ok("STORE 1 +FLAGS (\\Deleted)")
        untagged, _ = r.ok("STATUS INBOX (MESSAGES DELETED)")
        self.assertRegex(b"".join(untagged), rb"\* STATUS \"?INBOX\"? \((MESSAGES 2 DELETED 1|DELETED 1 MESSAGES 2)\)")

    def test_pipelined_commands_answer_in_order(self):
        user = new_user(self.pb)
        deliver("pipe", user)
        r = self.raw()
        r.s.sendall(
            f'p1 LOGIN "{user}" "{PW}"\r\np2 SELECT INBOX\r\np3 FETCH 1 (UID FLAGS)\r\n'
            "p4 STORE 1 +FLAGS (\\Seen)\r\np5 NOOP\r\np6 BOGUS\r\np7 UID SEARCH SEEN\r\n".encode()
        )
        tagged, lines = [], []
        while len(tagged) < 7:
            line = r.response()
            lines.append(line)
            if not line.startswith(b"*"):
                tagged.append(line)
        self.assertEqual([t.split()[0] for t in tagged], [b"p%d" % i for i in range(1, 8)])
        self.assertEqual([t.split()[1] for t in tagged], [b"OK"] * 5 + [b"BAD", b"OK"])
        self.assertIn(b"* SEARCH 1\r\n", lines)

    def test_dropped_append_stores_nothing(self):
        user = new_user(self.pb)
        r = self.raw(user)
        r.s.sendall(b"a1 APPEND INBOX {100000+}\r\n" + b"x" * 50000)
        time.sleep(0.2)
        r.drop()
        r2 = self.raw(user)
        untagged, _ = r2.ok("STATUS INBOX (MESSAGES)")
        self.assertIn(b"(MESSAGES 0)", untagged[0])
        # the server is still fine for this account
        m = message("after drop")
        r2.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(m), m))
        untagged, _ = r2.ok("STATUS INBOX (MESSAGES)")
        self.assertIn(b"(MESSAGES 1)", untagged[0])

    def test_utf8_accept(self):
        user = new_user(self.pb)
        r = self.raw(user)
        untagged, _ = r.ok("ENABLE UTF8=ACCEPT")
        self.assertIn(b"UTF8=ACCEPT", b"".join(untagged).upper())
        r.ok('CREATE "Grüße"'.encode())
        untagged, _ = r.ok('LIST "" "*"')
        self.assertTrue(any("Grüße".encode() in u for u in untagged), untagged)


# ---------------------------------------------------------------- sync

class MultiDeviceTests(Base):
    def test_two_sessions_see_flags_expunge_and_move(self):
        user = new_user(self.pb)
        for i in range(4):
            deliver(f"md {i + 1}", user)
        a = self.imap(user)
        b = self.imap(user, "implicit")
        ok(a.create("Saved"))
        ok(a.select("INBOX"))
        ok(b.select("INBOX"))
        # flag change on A shows on B at NOOP
        ok(a.store("2", "+FLAGS", "(\\Flagged)"))
        ok(b.noop())
        f = parse_fetch(b.response("FETCH")[1])
        self.assertIn(2, f, "B sees a FETCH for message 2")
        self.assertIn("\\flagged", flagset(f[2]["FLAGS"]))
        # expunge on A
        ok(a.store("1", "+FLAGS", "(\\Deleted)"))
        ok(a.expunge())
        b.response("FETCH")
        ok(b.noop())
        self.assertEqual(b.response("EXPUNGE")[1], [b"1"])
        # move on A: B sees the expunge, Saved gains it
        typ, data = a.uid("MOVE", "3", "Saved")
        self.assertEqual(typ, "OK", data)
        ok(b.noop())
        self.assertEqual(b.response("EXPUNGE")[1], [b"2"])
        self.assertEqual(sorted(subjects(b, "INBOX").values()), ["md 2", "md 4"])
        self.assertEqual(list(subjects(b, "Saved").values()), ["md 3"])
        # a new delivery shows up as EXISTS on A
        ok(a.noop())
        a.response("EXISTS")
        deliver("md 5", user)
        wait_for(lambda: ok(a.noop()) and a.response("EXISTS")[1][0] == b"3", 10, "EXISTS after delivery")

    def test_qresync_reconnect_reports_vanished_and_changed_flags(self):
        user = new_user(self.pb)
        for i in range(5):
            deliver(f"qr {i + 1}", user)
        m = self.imap(user)
        typ, data = m.enable("QRESYNC")
        self.assertEqual(typ, "OK", data)
        self.assertIn(b"QRESYNC", (m.response("ENABLED")[1][0] or b"").upper())
        ok(m.select("INBOX"))
        uidvalidity = int(m.response("UIDVALIDITY")[1][0])
        modseq = int(m.response("HIGHESTMODSEQ")[1][0])
        m.logout()
        self.clients.remove(m)

        # another device, while the first is away
        o = self.imap(user, "implicit")
        ok(o.select("INBOX"))
        ok(o.uid("STORE", "3", "+FLAGS", "(\\Flagged)"))
        ok(o.uid("STORE", "2,4", "+FLAGS", "(\\Deleted)"))
        ok(o.expunge())
        o.logout()
        self.clients.remove(o)

        m = self.imap(user)
        ok(m.enable("QRESYNC"))
        m.untagged_responses = {}
        typ, data = m._simple_command("SELECT", "INBOX", f"(QRESYNC ({uidvalidity} {modseq}))")
        self.assertEqual(typ, "OK", data)
        m.state = "SELECTED"
        self.assertEqual(m.response("EXISTS")[1], [b"3"])
        vanished = m.response("VANISHED")[1]
        self.assertEqual(len(vanished), 1, vanished)
        mo = re.match(rb"\(EARLIER\) ([\d:,]+)$", vanished[0] or b"")
        self.assertIsNotNone(mo, vanished)
        self.assertEqual(seqset(mo.group(1).decode()), [2, 4])
        f = by_uid(parse_fetch(m.response("FETCH")[1]))
        self.assertEqual(sorted(f), [3], "only the changed message is reported")
        self.assertIn("\\flagged", flagset(f[3]["FLAGS"]))
        self.assertGreater(int(f[3]["MODSEQ"][0]), modseq)
        new_modseq = int(m.response("HIGHESTMODSEQ")[1][0])
        self.assertGreater(new_modseq, modseq)
        # the same through UID FETCH ... (CHANGEDSINCE n VANISHED)
        typ, data = m.uid("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(sorted(by_uid(parse_fetch(data))), [3])
        vanished = m.response("VANISHED")[1]
        self.assertEqual(seqset(re.match(rb"\(EARLIER\) ([\d:,]+)$", vanished[0]).group(1).decode()), [2, 4])
        # nothing changed since the new modseq
        typ, data = m.uid("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {new_modseq})")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(parse_fetch(data), {})


class Pop3AndImapTests(Base):
    def pop3(self, user):
        p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
        p.stls(context=insecure_context())
        p.user(user)
        p.pass_(PW)
        return p

    def pop3_subjects(self, user):
        p = self.pop3(user)
        try:
            return [email.message_from_bytes(b"\r\n".join(p.retr(i)[1]))["Subject"]
                    for i in range(1, p.stat()[0] + 1)]
        finally:
            p.quit()

    def test_pop3_and_imap_deletions_are_seen_by_each_other(self):
        user = new_user(self.pb)
        for s in ("first", "second", "third"):
            deliver(s, user)
        m = self.imap(user)
        ok(m.select("INBOX"))
        self.assertEqual(sorted(subjects(m).values()), ["first", "second", "third"])
        ok(m.select("INBOX"))
        p = self.pop3(user)
        self.assertEqual(p.stat()[0], 3)
        p.dele(1)
        p.quit()
        ok(m.noop())
        self.assertEqual(m.response("EXPUNGE")[1], [b"1"])
        self.assertEqual(sorted(subjects(m).values()), ["second", "third"])
        ok(m.select("INBOX"))
        ok(m.store("1", "+FLAGS", "(\\Deleted)"))
        ok(m.expunge())
        self.assertEqual(self.pop3_subjects(user), ["third"])


# ---------------------------------------------------------------- curl

class CurlTests(Base):
    def curl(self, url, *args, user=None, check=True):
        r = subprocess.run(
            ["curl", "-sS", "-k", "--max-time", "30", "--user", f"{user}:{PW}", *args, url],
            capture_output=True, timeout=60,
        )
        if check:
            self.assertEqual(r.returncode, 0, f"curl {' '.join(args)} {url}: {r.stderr!r}")
        return r

    def run_curl_suite(self, scheme, port, extra):
        user = new_user(self.pb)
        m = self.imap(user)
        ok(m.create("Work"))
        self.append(m, "INBOX", message("curl one", body="first body\r\n"))
        self.append(m, "INBOX", message("curl two", body="second body\r\n"))
        base = f"{scheme}://127.0.0.1:{port}"

        out = self.curl(f"{base}/", *extra, user=user).stdout
        self.assertRegex(out, rb'\* LIST \([^)]*\) "/" "?INBOX"?')
        self.assertRegex(out, rb'\* LIST \([^)]*\) "/" "?Work"?')

        out = self.curl(f"{base}/", *extra, "-X", "EXAMINE INBOX", user=user).stdout
        self.assertIn(b"* 2 EXISTS", out)
        uidvalidity = int(re.search(rb"\[UIDVALIDITY (\d+)\]", out).group(1))

        out = self.curl(f"{base}/INBOX", *extra, "-X", "UID SEARCH ALL", user=user).stdout
        self.assertRegex(out, rb"\* SEARCH 1 2\s*$")
        out = self.curl(f"{base}/INBOX?SUBJECT%20two", *extra, user=user).stdout
        self.assertRegex(out, rb"\* SEARCH 2\s*$")

        out = self.curl(f"{base}/INBOX/;UID=1/;SECTION=HEADER", *extra, user=user).stdout
        self.assertIn(b"Subject: curl one\r\n", out)
        self.assertNotIn(b"first body", out)
        out = self.curl(f"{base}/INBOX;UIDVALIDITY={uidvalidity}/;UID=2", *extra, user=user).stdout
        self.assertIn(b"Subject: curl two\r\n", out)
        self.assertTrue(out.endswith(b"second body\r\n"), out[-40:])
        r = self.curl(f"{base}/INBOX;UIDVALIDITY={uidvalidity + 1}/;UID=2", *extra, user=user, check=False)
        self.assertNotEqual(r.returncode, 0, "a changed UIDVALIDITY is refused by curl")
        out = self.curl(f"{base}/INBOX/;UID=2/;SECTION=TEXT/;PARTIAL=0.6", *extra, user=user).stdout
        self.assertEqual(out, b"second")

        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            f.write(message("curl upload", body="uploaded\r\n"))
            f.flush()
            self.curl(f"{base}/Work", *extra, "-T", f.name, user=user)
        self.assertEqual(list(subjects(m, "Work").values()), ["curl upload"])
        # curl fetched without PEEK: \Seen is set
        ok(m.select("INBOX"))
        f = by_uid(parse_fetch(ok(m.uid("FETCH", "1:2", "(FLAGS)"))))
        self.assertIn("\\seen", flagset(f[2]["FLAGS"]))

    def test_curl_imap_starttls(self):
        self.run_curl_suite("imap", PORTS["imap"], ["--ssl-reqd"])

    def test_curl_imaps(self):
        self.run_curl_suite("imaps", PORTS["imaps"], ["--sasl-ir"])


# ---------------------------------------------------------------- mbsync

def maildir_messages(folder):
    """{subject: (path, flags)} of a maildir folder (cur and new)."""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                subj = email.message_from_bytes(f.read())["Subject"]
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out[subj] = (path, flags)
    return out


def set_maildir_flags(path, flags):
    d, name = os.path.split(path)
    base = name.split(":2,", 1)[0]
    new = os.path.join(os.path.dirname(d), "cur", f"{base}:2,{''.join(sorted(flags))}")
    os.rename(path, new)
    return new


@unittest.skipUnless(shutil.which("mbsync"), "mbsync (isync) not installed")
class MbsyncTests(Base):
    def mbsync(self, home, cfg):
        r = subprocess.run(
            ["mbsync", "-c", cfg, "-V", "-a"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "HOME": home},
        )
        self.assertEqual(r.returncode, 0, f"mbsync failed:\n{r.stdout}\n{r.stderr}")
        return r.stdout + r.stderr

    def config(self, d, user, tls, port, mechs):
        cert = os.path.join(self.pb.data, "tls", "self-signed-cert.pem")
        self.assertTrue(os.path.exists(cert), cert)
        mail = os.path.join(d, "mail")
        os.makedirs(mail, exist_ok=True)
        cfg = os.path.join(d, "mbsyncrc")
        with open(cfg, "w") as f:
            f.write(
                f"IMAPAccount pb\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass \"{PW}\"\n"
                f"SSLType {tls}\nCertificateFile {cert}\nSystemCertificates no\n"
                f"AuthMechs {mechs}\nTimeout 30\n\n"
                "IMAPStore pb-remote\nAccount pb\n\n"
                f"MaildirStore pb-local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n"
                "Channel pb\nFar :pb-remote:\nNear :pb-local:\nPatterns *\n"
                "Create Both\nExpunge Both\nSyncState *\nSync All\n"
            )
        return cfg, mail

    def test_mbsync_two_way_starttls(self):
        user = new_user(self.pb)
        m = self.imap(user)
        ok(m.create("Work"))
        ok(m.create("Work/Sub"))
        # Archive (like Sent, Drafts, Trash, Junk) exists from the start
        self.append(m, "INBOX", message("in keep"), "(\\Seen)")
        self.append(m, "INBOX", message("in flag"))
        self.append(m, "INBOX", message("in trash"))
        self.append(m, "INBOX", message("in move"))
        self.append(m, "Work", message("work one"), "(\\Answered)")
        self.append(m, "Work", message("work two"))
        self.append(m, "Work/Sub", message("sub one"))
        self.append(m, "Archive", message("old archived"), "(\\Seen)")
        m.logout()
        self.clients.remove(m)

        with tempfile.TemporaryDirectory(prefix="mbsync-") as d:
            cfg, mail = self.config(d, user, "STARTTLS", PORTS["imap"], "LOGIN")
            self.mbsync(d, cfg)
            inbox = maildir_messages(os.path.join(mail, "INBOX"))
            self.assertEqual(set(inbox), {"in keep", "in flag", "in trash", "in move"})
            self.assertEqual(inbox["in keep"][1], "S")
            self.assertEqual(set(maildir_messages(os.path.join(mail, "Work"))), {"work one", "work two"})
            self.assertEqual(maildir_messages(os.path.join(mail, "Work"))["work one"][1], "R")
            self.assertEqual(set(maildir_messages(os.path.join(mail, "Work", "Sub"))), {"sub one"})
            self.assertEqual(set(maildir_messages(os.path.join(mail, "Archive"))), {"old archived"})

            # local changes: flag, trash (expunged), move to another folder,
            # a new local message and a new local folder
            set_maildir_flags(inbox["in flag"][0], "FS")
            set_maildir_flags(inbox["in trash"][0], "T")
            src = inbox["in move"][0]
            base = re.sub(r",U=\d+", "", os.path.basename(src))
            os.rename(src, os.path.join(mail, "Archive", os.path.basename(os.path.dirname(src)), base))
            for folder, subj in (("Work", "local new"), ("Local", "local folder msg")):
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(os.path.join(mail, folder, sub), exist_ok=True)
                with open(os.path.join(mail, folder, "new", f"{int(time.time())}.{next(_counter)}.host"), "wb") as f:
                    f.write(message(subj))
            self.mbsync(d, cfg)

            m = self.imap(user)
            self.assertEqual(sorted(subjects(m, "INBOX").values()), ["in flag", "in keep"])
            ok(m.select("INBOX", readonly=True))
            f = parse_fetch(ok(m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")))
            flags = {email.message_from_bytes(v["BODY[HEADER.FIELDS (SUBJECT)]"])["Subject"]: flagset(v["FLAGS"])
                     for v in f.values()}
            self.assertEqual(flags["in flag"], {"\\flagged", "\\seen"})
            self.assertEqual(sorted(subjects(m, "Archive").values()), ["in move", "old archived"])
            self.assertEqual(sorted(subjects(m, "Work").values()), ["local new", "work one", "work two"])
            self.assertIn("Local", list_names(m))
            self.assertEqual(list(subjects(m, "Local").values()), ["local folder msg"])

            # server-side changes: a flag, an expunge, a new message
            ok(m.select("Work"))
            typ, data = m.uid("SEARCH", "SUBJECT", '"work two"')
            uid = ints(data)[0]
            ok(m.uid("STORE", str(uid), "+FLAGS", "(\\Seen \\Flagged)"))
            typ, data = m.uid("SEARCH", "SUBJECT", '"work one"')
            ok(m.uid("STORE", str(ints(data)[0]), "+FLAGS", "(\\Deleted)"))
            ok(m.expunge())
            ok(m.close())
            deliver("server new", user)
            self.mbsync(d, cfg)
            work = maildir_messages(os.path.join(mail, "Work"))
            self.assertEqual(set(work), {"work two", "local new"})
            self.assertEqual(work["work two"][1], "FS")
            inbox = maildir_messages(os.path.join(mail, "INBOX"))
            self.assertEqual(set(inbox), {"in keep", "in flag", "server new"})
            self.assertEqual(inbox["in flag"][1], "FS")

    def test_mbsync_imaps_pull_with_default_mechanisms(self):
        user = new_user(self.pb)
        deliver("pulled one", user)
        deliver("pulled two", user)
        with tempfile.TemporaryDirectory(prefix="mbsync-") as d:
            cfg, mail = self.config(d, user, "IMAPS", PORTS["imaps"], "*")
            self.mbsync(d, cfg)
            self.assertEqual(set(maildir_messages(os.path.join(mail, "INBOX"))), {"pulled one", "pulled two"})
            # nothing changes: a second run is a no-op
            self.mbsync(d, cfg)
            self.assertEqual(len(maildir_messages(os.path.join(mail, "INBOX"))), 2)


if __name__ == "__main__":
    unittest.main()
