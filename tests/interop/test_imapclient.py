"""IMAP interop with `imapclient` (4.x, from PyPI) against the real binary
over implicit TLS (and STARTTLS once). Its response parser is strict and
independent of ours: a malformed ENVELOPE, BODYSTRUCTURE, literal or
(E)SEARCH response fails here. Run by .ci/run (which pip-installs it):

    python3 tests/interop/test_imapclient.py -v

The corpus (imap_corpus.py: plain text, multipart/alternative,
multipart/mixed with a base64 attachment, an RFC 2231 file name and a
message/rfc822 part, RFC 2047 and raw UTF-8 headers, group addresses,
quoted display names) is delivered over SMTP and APPEND, and every parsed
value is checked against what was sent; generated messages (Python's
email encoder; GEN_SEED=n picks another set) are cross-checked part by
part. Each test has its own account (or only reads the shared corpus) and
is bounded in time by socket timeouts and a per-test alarm.
"""

import base64
import datetime
import email.policy
import os
import random
import time
import unittest
import urllib.parse

from common import PORTS, insecure_context
from imap_corpus import (A, A_BODY, B, B_HTML, B_TEXT, C, C_DATE, C_INNER, C_INNER_BODY, C_QP, C_TEXT, D,
                         D_BODY, D_DATE, PDF, PDF_B64, PDF_MD5, PW, Base, CorpusMixin, addr, crlf, decoded,
                         email_leaves, generated_message, lines, new_user, simple, smtp_send)

try:
    import imapclient
    import imapclient.response_parser
    import imapclient.response_types
    from imapclient import IMAPClient
    from imapclient.exceptions import CapabilityError, LoginError
except ImportError:  # pragma: no cover - the CI installs it
    imapclient = None


@unittest.skipUnless(imapclient, "imapclient not installed (pip install imapclient)")
class ImapClientBase(Base):
    def client(self, user=None, starttls=False):
        if starttls:
            c = IMAPClient("127.0.0.1", PORTS["imap"], ssl=False, timeout=30)
            c.starttls(insecure_context())
        else:
            c = IMAPClient("127.0.0.1", PORTS["imaps"], ssl=True,
                           ssl_context=insecure_context(), timeout=30)
        self.clients.append(c)
        if user:
            c.login(user, PW)
        return c


class CorpusTests(CorpusMixin, ImapClientBase):
    """imapclient's parsed FETCH and SEARCH answers on the corpus."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.deliver_corpus()

    def corpus(self, *items, **kw):
        c = self.client(self.user)
        c.normalise_times = False  # keep the timezone of dates (aware datetimes)
        c.select_folder("INBOX", readonly=True)
        return c, c.fetch(sorted(self.uids.values()), list(items), **kw)

    def test_envelope(self):
        c, f = self.corpus("ENVELOPE")
        e = f[self.uids["A"]][b"ENVELOPE"]
        self.assertEqual(decoded(e.subject), "Grüße aus Köln")
        self.assertEqual(e.date, datetime.datetime(2026, 6, 1, 10, 0, tzinfo=datetime.timezone.utc))
        self.assertEqual([addr(a) for a in e.from_], [("Doe, John", "john", "remote.test")])
        # RFC 9051 §7.5.2: Sender defaults to From when absent.
        self.assertEqual([addr(a) for a in e.sender], [("Doe, John", "john", "remote.test")])
        self.assertEqual([addr(a) for a in e.reply_to], [("Replies", "replies", "remote.test")])
        # Group syntax: (NIL NIL "name" NIL) starts a group, (NIL NIL NIL NIL) ends it.
        self.assertEqual([addr(a) for a in e.to], [
            (None, "Friends", None), (None, "a", "x.test"), ('Q "quoted" R', "b", "x.test"),
            (None, None, None), (None, "c", "x.test")])
        self.assertEqual([addr(a) for a in e.cc], [(None, "undisclosed-recipients", None), (None, None, None)])
        self.assertIsNone(e.bcc)
        self.assertEqual(e.in_reply_to, b"<parent@remote.test>")
        self.assertEqual(e.message_id, b"<plain-a@remote.test>")

        e = f[self.uids["B"]][b"ENVELOPE"]
        self.assertEqual(decoded(e.subject), "Café crème and tea")
        self.assertEqual(e.date, datetime.datetime(2026, 6, 2, 11, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))))
        self.assertEqual(decoded(e.from_[0].name), "André Martin")
        self.assertEqual(addr(e.from_[0])[1:], ("andre", "remote.test"))
        self.assertEqual([addr(a) for a in e.to], [("Alice Example", "alice", "example.org")])
        self.assertIsNone(e.cc)
        self.assertIsNone(e.in_reply_to)

        e = f[self.uids["C"]][b"ENVELOPE"]
        self.assertEqual(e.subject, b"Quarterly report with attachments")
        self.assertEqual([addr(a) for a in e.to], [("Smith, Bob", "bob", "remote.test"), (None, "alice", "example.org")])
        self.assertEqual(e.message_id, b"<mixed-c@remote.test>")

        # Raw UTF-8 headers: 8-bit text is sent as a literal (RFC 3501 §4.3:
        # quoted strings are 7-bit); imapclient gives the bytes.
        e = f[self.uids["D"]][b"ENVELOPE"]
        self.assertEqual(e.subject.decode("utf-8"), "Grüße, raw UTF-8 — ok")
        self.assertEqual([addr(a) for a in e.from_], [("Jürgen Müller", "juergen", "remote.test")])
        self.assertEqual([addr(a) for a in e.to], [("Zoë, the Boss", "zoe", "example.org")])

    def test_envelope_utf8_accept(self):
        c = self.client(self.user)
        self.assertEqual(c.enable("UTF8=ACCEPT"), [b"UTF8=ACCEPT"])
        c.select_folder("INBOX", readonly=True)
        e = c.fetch([self.uids["D"]], ["ENVELOPE"])[self.uids["D"]][b"ENVELOPE"]
        self.assertEqual(e.subject.decode("utf-8"), "Grüße, raw UTF-8 — ok")
        self.assertEqual(addr(e.to[0]), ("Zoë, the Boss", "zoe", "example.org"))

    def test_bodystructure(self):
        c, f = self.corpus("BODYSTRUCTURE", "BODY")
        def upper(t):
            return None if t is None else tuple(v.upper() for v in t)

        bs = f[self.uids["A"]][b"BODYSTRUCTURE"]
        self.assertFalse(bs.is_multipart)
        self.assertEqual(bs[:2], (b"TEXT", b"PLAIN"))
        self.assertEqual(upper(bs[2]), (b"CHARSET", b"US-ASCII"))
        self.assertEqual(bs[3:8], (None, None, b"7BIT", len(A_BODY), lines(A_BODY)))
        self.assertEqual(len(bs), 12, "BODYSTRUCTURE has md5, disposition, language, location")
        self.assertEqual(f[self.uids["A"]][b"BODY"], bs[:8], "BODY is BODYSTRUCTURE without extensions")

        bs = f[self.uids["B"]][b"BODYSTRUCTURE"]
        self.assertTrue(bs.is_multipart)
        parts, subtype = bs[0], bs[1]
        self.assertEqual(subtype, b"ALTERNATIVE")
        self.assertEqual(bs[2], (b"BOUNDARY", b"alt-b"))
        self.assertEqual(len(parts), 2)
        self.assertEqual(parts[0][:2], (b"TEXT", b"PLAIN"))
        self.assertEqual(upper(parts[0][2]), (b"CHARSET", b"ISO-8859-1"))
        self.assertEqual(parts[0][5:8], (b"QUOTED-PRINTABLE", len(B_TEXT), lines(B_TEXT)))
        self.assertEqual(parts[1][:2], (b"TEXT", b"HTML"))
        self.assertEqual(parts[1][5:8], (b"7BIT", len(B_HTML), lines(B_HTML)))

        bs = f[self.uids["C"]][b"BODYSTRUCTURE"]
        parts = bs[0]
        self.assertEqual(bs[1], b"MIXED")
        self.assertEqual([p[:2] for p in parts], [
            (b"TEXT", b"PLAIN"), (b"APPLICATION", b"PDF"), (b"TEXT", b"PLAIN"), (b"MESSAGE", b"RFC822")])
        text, pdf, qp, fwd = parts
        self.assertEqual(text[5:8], (b"8BIT", len(C_TEXT), lines(C_TEXT)))
        self.assertEqual(pdf[2], (b"NAME", b"report.pdf"))
        self.assertEqual(pdf[5:7], (b"BASE64", len(PDF_B64)))
        # non-text single part: md5 (the Content-MD5 value, RFC 9051
        # §7.5.2), disposition, language, location follow the size
        self.assertEqual(pdf[7], PDF_MD5)
        self.assertEqual(pdf[8], (b"ATTACHMENT", (b"FILENAME", b"report.pdf")))
        self.assertEqual(text[8], None, "no Content-MD5, no MD5")
        self.assertEqual(qp[5:8], (b"QUOTED-PRINTABLE", len(C_QP), lines(C_QP)))
        disp, params = qp[9][0], dict(zip(qp[9][1][0::2], qp[9][1][1::2]))
        self.assertEqual(disp, b"ATTACHMENT")
        # RFC 2231 parameters may be passed on (re-encoded, RFC 2231 §4) or
        # decoded; either way the name must survive.
        if b"FILENAME*" in params:
            charset, _lang, value = params[b"FILENAME*"].decode("ascii").split("'", 2)
            name = urllib.parse.unquote(value, encoding=charset)
        else:
            name = params[b"FILENAME"].decode("utf-8")
        self.assertEqual(name, "résumé.txt")
        # message/rfc822: the basic fields, then envelope, body structure and
        # line count of the attached message (RFC 9051 §7.5.2).
        self.assertEqual(fwd[3:7], (None, b"forwarded note", b"7BIT", len(C_INNER)))
        env, inner, nlines = fwd[7], fwd[8], fwd[9]
        self.assertEqual(env[0], b"Sun, 31 May 2026 09:00:00 +0200")
        self.assertEqual(decoded(env[1]), "Inner € subject")
        self.assertEqual(env[2], ((b"Dave", None, b"dave", b"remote.test"),))
        self.assertEqual(env[5], ((None, None, b"carol", b"remote.test"),))
        self.assertEqual(env[9], b"<inner@remote.test>")
        self.assertEqual(inner[:2], (b"TEXT", b"PLAIN"))
        self.assertEqual(inner[5:8], (b"7BIT", len(C_INNER_BODY), lines(C_INNER_BODY)))
        self.assertEqual(nlines, lines(C_INNER))

        bs = f[self.uids["D"]][b"BODYSTRUCTURE"]
        self.assertEqual(bs[5:8], (b"8BIT", len(D_BODY), lines(D_BODY)))

    def test_sections_sizes_dates_flags_modseq(self):
        c, f = self.corpus("BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]", "BODY.PEEK[1.MIME]",
                           "BODY.PEEK[TEXT]<0.100>", "RFC822.SIZE", "INTERNALDATE", "FLAGS",
                           "MODSEQ", "BODY.PEEK[]")
        hf = b"BODY[HEADER.FIELDS (SUBJECT FROM)]"
        a, b, cc, d = (f[self.uids[k]] for k in "ABCD")
        self.assertEqual(a[hf], b'From: "Doe, John" <john@remote.test>\r\n'
                         b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n\r\n")
        self.assertEqual(d[hf], "From: Jürgen Müller <juergen@remote.test>\r\n"
                         "Subject: Grüße, raw UTF-8 — ok\r\n\r\n".encode())
        self.assertEqual(b[b"BODY[1.MIME]"], b"Content-Type: text/plain; charset=iso-8859-1\r\n"
                         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self.assertEqual(cc[b"BODY[1.MIME]"], b"Content-Type: text/plain; charset=utf-8\r\n"
                         b"Content-Transfer-Encoding: 8bit\r\n\r\n")
        self.assertEqual(a[b"BODY[TEXT]<0>"], A_BODY)
        self.assertEqual(cc[b"BODY[TEXT]<0>"], C[C.index(b"\r\n\r\n") + 4:][:100])
        self.assertEqual(d[b"BODY[TEXT]<0>"], D_BODY)
        # APPENDed messages are stored as sent; delivered ones gain trace
        # headers (Return-Path, Received) in front.
        self.assertEqual(cc[b"BODY[]"], C)
        self.assertEqual(d[b"BODY[]"], D)
        self.assertTrue(a[b"BODY[]"].endswith(A))
        self.assertTrue(b[b"BODY[]"].endswith(B))
        for m in (a, b, cc, d):
            self.assertEqual(m[b"RFC822.SIZE"], len(m[b"BODY[]"]))
        self.assertEqual(cc[b"INTERNALDATE"], C_DATE)
        self.assertEqual(d[b"INTERNALDATE"], D_DATE)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((a[b"INTERNALDATE"] - now).total_seconds()), 600)
        self.assertEqual(a[b"FLAGS"], ())
        self.assertEqual(cc[b"FLAGS"], (b"\\Flagged",))
        self.assertEqual(set(d[b"FLAGS"]), {b"\\Seen", b"$Label1"})
        modseqs = [m[b"MODSEQ"][0] for m in (a, b, cc, d)]
        self.assertTrue(all(isinstance(x, int) and x > 0 for x in modseqs), modseqs)
        st = c.folder_status("INBOX", ["HIGHESTMODSEQ", "MESSAGES"])
        self.assertEqual(st[b"MESSAGES"], 4)
        self.assertEqual(st[b"HIGHESTMODSEQ"], max(modseqs))

    def test_search(self):
        c = self.client(self.user)
        c.select_folder("INBOX", readonly=True)
        u = self.uids
        def s(criteria, charset=None):
            return sorted(c.search(criteria, charset))
        self.assertEqual(s("ALL"), sorted(u.values()))
        self.assertEqual(s(["FROM", "carol"]), [u["C"]])
        self.assertEqual(s(["FROM", "Doe, John"]), [u["A"]])
        self.assertEqual(s(["TO", "x.test"]), [u["A"]])
        # RFC 2047 encoded and raw UTF-8 subjects, searched in UTF-8
        self.assertEqual(s(["SUBJECT", "Köln"], "UTF-8"), [u["A"]])
        self.assertEqual(s(["SUBJECT", "grüße"], "UTF-8"), [u["A"], u["D"]])
        self.assertEqual(s(["SUBJECT", "café"], "UTF-8"), [u["B"]])
        self.assertEqual(s(["BODY", "wörld"], "UTF-8"), [u["D"]])
        self.assertEqual(s(["BODY", "line two"]), [u["A"]])
        self.assertEqual(s(["TEXT", "forwarded note"]), [u["C"]])
        self.assertEqual(s(["HEADER", "Message-ID", "<alt-b@remote.test>"]), [u["B"]])
        self.assertEqual(s(["OR", "FLAGGED", ["FROM", "andre"]]), [u["B"], u["C"]])
        self.assertEqual(s(["NOT", "SEEN"]), [u["A"], u["B"], u["C"]])
        self.assertEqual(s(["NOT", ["OR", "FLAGGED", "SEEN"]]), [u["A"], u["B"]])
        self.assertEqual(s(["KEYWORD", "$Label1"]), [u["D"]])
        self.assertEqual(s(["UNKEYWORD", "$Label1", "UNFLAGGED"]), [u["A"], u["B"]])
        self.assertEqual(s(["LARGER", 1000]), [u["C"]])
        self.assertEqual(s(["UID", f"{u['B']}:{u['D']}"]), [u["B"], u["C"], u["D"]])
        self.assertEqual(s(["UID", f"{u['C']}:*", "SEEN"]), [u["D"]])
        self.assertEqual(s(["UID", f"{u['D'] + 100}:*"]), [u["D"]], "n:* includes the last message")
        self.assertEqual(s("1,3"), [u["A"], u["C"]])
        # Date header (SENT*) and internal date (SINCE/ON/BEFORE), both
        # compared by date only (RFC 9051 §6.4.4).
        self.assertEqual(s(["SENTBEFORE", datetime.date(2026, 6, 2)]), [u["A"]])
        self.assertEqual(s(["SENTON", datetime.date(2026, 6, 2)]), [u["B"]])
        self.assertEqual(s(["SENTSINCE", datetime.date(2026, 6, 3)]), [u["C"], u["D"]])
        self.assertEqual(s(["ON", datetime.date(2020, 6, 3)]), [u["C"]])
        self.assertEqual(s(["BEFORE", datetime.date(2020, 6, 4)]), [u["C"]])
        self.assertEqual(s(["SINCE", datetime.date(2020, 6, 4)]), [u["A"], u["B"], u["D"]])
        # RFC 7162 §3.1.5: a MODSEQ search reports the highest mod-sequence
        st = c.folder_status("INBOX", ["HIGHESTMODSEQ"])
        r = c.search(["MODSEQ", st[b"HIGHESTMODSEQ"]])
        self.assertEqual(len(r), 1)
        self.assertEqual(r.modseq, st[b"HIGHESTMODSEQ"])
        with self.assertRaises(imapclient.exceptions.InvalidCriteriaError):
            c.search(["NOSUCHKEY"])

    def test_more_fetch_items(self):
        c, f = self.corpus("BODY.PEEK[4.HEADER.FIELDS (SUBJECT)]", "BODY.PEEK[4.1]", "BODY.PEEK[4.TEXT]",
                           "BODY.PEEK[3]<2.5>", "BINARY.PEEK[3]", "BINARY.SIZE[3]", "BINARY.SIZE[2]",
                           "RFC822.HEADER", "EMAILID", "PREVIEW", "SAVEDATE")
        m = f[self.uids["C"]]
        self.assertEqual(m[b"BODY[4.HEADER.FIELDS (SUBJECT)]"], b"Subject: =?UTF-8?Q?Inner_=E2=82=AC_subject?=\r\n\r\n")
        self.assertEqual(m[b"BODY[4.1]"], C_INNER_BODY)
        self.assertEqual(m[b"BODY[4.TEXT]"], C_INNER_BODY)
        self.assertEqual(m[b"BODY[3]<2>"], C_QP[2:7])
        # RFC 3516: BINARY decodes the transfer encoding. (The PDF part
        # holds NUL octets, so it needs literal8 "~{n}", which imapclient
        # does not parse; only its size is fetched here.)
        self.assertEqual(m[b"BINARY[3]"], "résumé text\r\n".encode())
        self.assertEqual(m[b"BINARY.SIZE[3]"], len("résumé text\r\n".encode()))
        self.assertEqual(m[b"BINARY.SIZE[2]"], len(PDF))
        self.assertEqual(m[b"RFC822.HEADER"], C[:C.index(b"\r\n\r\n") + 4])
        self.assertEqual(m[b"PREVIEW"], C_TEXT.strip())  # RFC 8970: from the first text part
        self.assertIsInstance(m[b"SAVEDATE"], bytes)  # RFC 8514
        ids = {f[u][b"EMAILID"] for u in f}  # RFC 8474 objectid, parenthesised
        self.assertEqual(len(ids), 4)
        self.assertTrue(all(len(i) == 1 and i[0].isalnum() for i in ids), ids)
        self.assertIsNone(f[self.uids["A"]][b"BODY[4.1]"], "a section the message lacks is NIL")

    def test_esearch_parses(self):
        """RFC 4731 ESEARCH through imapclient's own response parser."""
        c = self.client(self.user)
        c.select_folder("INBOX", readonly=True)
        data = c._raw_command_untagged(b"SEARCH", [b"RETURN", b"(MIN MAX COUNT ALL)", b"NOT", b"SEEN"],
                                       response_name="ESEARCH")
        r = imapclient.response_parser.parse_response(data)
        self.assertEqual(r[0][0], b"TAG")
        self.assertEqual(r[1], b"UID")
        items = dict(zip(r[2::2], r[3::2]))
        u = self.uids
        self.assertEqual(items, {b"MIN": u["A"], b"MAX": u["C"], b"COUNT": 3,
                                 b"ALL": f"{u['A']}:{u['C']}".encode()})
        data = c._raw_command_untagged(b"SEARCH", [b"RETURN", b"()", b"SUBJECT", b"nomatch"],
                                       response_name="ESEARCH", uid=False)
        self.assertEqual(len(imapclient.response_parser.parse_response(data)), 1, "only the tag")
        # RFC 9051 §6.4.4: an unknown CHARSET is NO [BADCHARSET (...)]
        with self.assertRaisesRegex(imapclient.exceptions.IMAPClientError, "BADCHARSET"):
            c.search(["SUBJECT", "café"], charset="ISO-8859-1")

    def test_sort_and_thread_only_if_advertised(self):
        """RFC 5256 SORT and THREAD on the corpus, when advertised."""
        c = self.client(self.user)
        c.select_folder("INBOX", readonly=True)
        u = self.uids
        if not c.has_capability("SORT"):
            with self.assertRaises(CapabilityError):
                c.sort("ARRIVAL")
        else:
            # ARRIVAL is the internal date (C, D appended with 2020 dates;
            # A, B delivered now, in that order); ties keep sequence order.
            self.assertEqual(c.sort("ARRIVAL"), [u["C"], u["D"], u["A"], u["B"]])
            r = c.sort(["REVERSE", "ARRIVAL"])
            self.assertEqual((set(r[:2]), r[2:]), ({u["A"], u["B"]}, [u["D"], u["C"]]))
            # DATE: the Date header, compared in UTC
            self.assertEqual(c.sort("DATE"), [u["A"], u["B"], u["C"], u["D"]])
            # SUBJECT: the base subject, RFC 2047 decoded (RFC 5256 §2.1),
            # i;ascii-casemap: "CAFÉ" < "GRÜßE AUS" < "GRÜßE," < "QUARTERLY"
            self.assertEqual(c.sort("SUBJECT"), [u["B"], u["A"], u["D"], u["C"]])
            # FROM: the first From addr-mailbox: andre < carol < john < juergen
            self.assertEqual(c.sort("FROM"), [u["B"], u["C"], u["A"], u["D"]])
            sizes = c.fetch(sorted(u.values()), ["RFC822.SIZE"])
            self.assertEqual(c.sort("SIZE"), sorted(sizes, key=lambda x: (sizes[x][b"RFC822.SIZE"], x)))
            self.assertEqual(c.sort("ARRIVAL", ["NOT", "SEEN"]), [u["C"], u["A"], u["B"]])
        if not c.has_capability("THREAD=REFERENCES"):
            with self.assertRaises(CapabilityError):
                c.thread()
        else:
            # A's In-Reply-To names a message we do not have: the dummy
            # parent with one child is pruned; threads in Date order.
            self.assertEqual(c.thread(), ((u["A"],), (u["B"],), (u["C"],), (u["D"],)))

    def test_starttls_session(self):
        c = IMAPClient("127.0.0.1", PORTS["imap"], ssl=False, timeout=30)
        self.clients.append(c)
        caps = c.capabilities()
        self.assertIn(b"STARTTLS", caps)
        self.assertIn(b"LOGINDISABLED", caps)
        with self.assertRaises(LoginError):
            c.login(self.user, PW)  # no plaintext login before TLS
        c.starttls(insecure_context())
        caps = c.capabilities()
        self.assertNotIn(b"STARTTLS", caps)
        self.assertNotIn(b"LOGINDISABLED", caps)
        c.login(self.user, PW)
        sel = c.select_folder("INBOX", readonly=True)
        self.assertEqual(sel[b"EXISTS"], 4)
        self.assertTrue(sel[b"READ-ONLY"])
        e = c.fetch([self.uids["C"]], ["ENVELOPE", "BODYSTRUCTURE"])[self.uids["C"]]
        self.assertEqual(e[b"ENVELOPE"].subject, b"Quarterly report with attachments")
        self.assertEqual(len(e[b"BODYSTRUCTURE"][0]), 4)



class SessionTests(ImapClientBase):
    """Commands that change state, each on a fresh account."""

    def fill(self, c, folder="INBOX", n=3, prefix="msg"):
        """Appends `n` simple messages; returns their UIDs (from APPENDUID)."""
        uids = []
        for i in range(n):
            r = c.append(folder, simple(f"{prefix} {i + 1}"))
            uids.append(int(r.split(b"]")[0].split()[-1]))  # [APPENDUID v uid]
        return uids

    def test_capabilities_login_and_failures(self):
        user = new_user(self.pb)
        c = self.client()
        caps = c.capabilities()
        for cap in (b"IMAP4REV1", b"IDLE", b"UIDPLUS", b"MOVE", b"NAMESPACE", b"CONDSTORE", b"AUTH=PLAIN"):
            self.assertIn(cap, caps)
        self.assertNotIn(b"STARTTLS", caps, "no STARTTLS on implicit TLS")
        with self.assertRaises(LoginError):
            c.login(user, "wrong password")
        self.assertIn(b"Logged in", c.login(user, PW))
        self.assertNotIn(b"AUTH=PLAIN", c.capabilities(), "the refreshed list drops AUTH= after login")
        c2 = self.client()
        self.assertIn(b"Logged in", c2.plain_login(user, PW))  # AUTHENTICATE PLAIN
        ident = c2.id_({"name": "imapclient-interop"})  # RFC 2971
        self.assertEqual(dict(zip(ident[0][0::2], ident[0][1::2]))[b"name"], b"Pillarbox", ident)

    def test_folders(self):
        user = new_user(self.pb)
        c = self.client(user)
        names = {f[2]: f for f in c.list_folders()}
        self.assertIn("INBOX", names)
        self.assertEqual(names["INBOX"][1], b"/")
        self.assertEqual(c.find_special_folder(imapclient.imapclient.SENT), "Sent")
        self.assertEqual(c.find_special_folder(imapclient.imapclient.TRASH), "Trash")
        if c.has_capability("XLIST"):
            self.assertIn("INBOX", [f[2] for f in c.xlist_folders()])
        else:
            with self.assertRaises(CapabilityError):
                c.xlist_folders()

        c.create_folder("Work")
        c.create_folder("Work/Sub")
        c.create_folder("Été à Paris")  # sent in modified UTF-7 (RFC 3501 §5.1.3)
        c.create_folder('My "quoted" folder')
        self.assertTrue(c.folder_exists("Work/Sub"))
        self.assertFalse(c.folder_exists("Nope"))
        with self.assertRaises(imapclient.exceptions.IMAPClientError):
            c.create_folder("Work")
        names = {f[2]: f for f in c.list_folders()}
        for n in ("Work", "Work/Sub", "Été à Paris", 'My "quoted" folder'):
            self.assertIn(n, names)
        self.assertIn(b"\\HasChildren", names["Work"][0])
        self.assertIn(b"\\HasNoChildren", names["Work/Sub"][0])
        self.assertEqual([f[2] for f in c.list_folders("Work/", "%")], ["Work/Sub"])
        # the folders a new account starts with are subscribed (LSUB)
        self.assertEqual({f[2] for f in c.list_sub_folders()},
                         {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"})

        c.create_folder('Back\\slash "q"')
        self.assertEqual(c.folder_status('Back\\slash "q"', ["MESSAGES"]), {b"MESSAGES": 0})
        self.assertIn('Back\\slash "q"', [f[2] for f in c.list_folders()])
        c.delete_folder('Back\\slash "q"')
        # Parents implied by a new name are not created (a documented
        # choice: RFC 9051 §6.3.4 says SHOULD); LIST % shows the level as
        # \NonExistent/\Noselect (RFC 9051 §6.3.9, RFC 5258 §3).
        c.create_folder("Lone/Child")
        level = {f[2]: f[0] for f in c.list_folders("", "%")}
        self.assertIn("Lone", level)
        self.assertTrue({b"\\Noselect", b"\\NonExistent"} & set(level["Lone"]), level["Lone"])
        self.assertIn(b"\\HasChildren", level["Lone"])
        c.rename_folder("Work", "Projects")
        names = [f[2] for f in c.list_folders()]
        self.assertNotIn("Work", names)
        self.assertIn("Projects/Sub", names, "RENAME takes the children along")

        c.subscribe_folder("Projects")
        c.subscribe_folder("Été à Paris")
        subs = [f[2] for f in c.list_sub_folders()]
        self.assertIn("Projects", subs)
        self.assertIn("Été à Paris", subs)
        c.unsubscribe_folder("Été à Paris")
        self.assertNotIn("Été à Paris", [f[2] for f in c.list_sub_folders()])

        uid = self.fill(c, "Été à Paris", 2)
        st = c.folder_status("Été à Paris")
        self.assertEqual(st[b"MESSAGES"], 2)
        self.assertEqual(st[b"UNSEEN"], 2)
        self.assertEqual(st[b"UIDNEXT"], uid[-1] + 1)
        self.assertGreater(st[b"UIDVALIDITY"], 0)
        self.assertEqual(st[b"RECENT"], 0)  # no \Recent (RFC 9051 removed it)

        c.delete_folder("Projects/Sub")
        c.delete_folder('My "quoted" folder')
        names = [f[2] for f in c.list_folders()]
        self.assertNotIn("Projects/Sub", names)
        self.assertNotIn('My "quoted" folder', names)
        with self.assertRaises(imapclient.exceptions.IMAPClientError):
            c.delete_folder("INBOX")
        with self.assertRaises(imapclient.exceptions.IMAPClientError):
            c.select_folder("Nope")

    def test_select_folder(self):
        user = new_user(self.pb)
        c = self.client(user)
        smtp_send(user, simple("one", to=user))
        smtp_send(user, simple("two", to=user))
        sel = c.select_folder("INBOX")
        self.assertEqual(sel[b"EXISTS"], 2)
        self.assertEqual(sel[b"UIDNEXT"], 3)
        self.assertGreater(sel[b"UIDVALIDITY"], 0)
        self.assertGreater(sel[b"HIGHESTMODSEQ"], 0)
        self.assertTrue(sel[b"READ-WRITE"])
        self.assertIn(b"\\Seen", sel[b"FLAGS"])
        self.assertIn(b"\\*", sel[b"PERMANENTFLAGS"])
        st = c.folder_status("INBOX", ["UIDVALIDITY", "UIDNEXT", "MESSAGES", "HIGHESTMODSEQ"])
        self.assertEqual(st[b"UIDVALIDITY"], sel[b"UIDVALIDITY"])
        self.assertEqual(st[b"HIGHESTMODSEQ"], sel[b"HIGHESTMODSEQ"])
        c.add_flags(c.search("ALL")[:1], [imapclient.SEEN])
        c.unselect_folder()
        sel2 = c.select_folder("INBOX", readonly=True)
        self.assertTrue(sel2[b"READ-ONLY"])
        self.assertEqual(sel2[b"UIDVALIDITY"], sel[b"UIDVALIDITY"])
        self.assertGreater(sel2[b"HIGHESTMODSEQ"], sel[b"HIGHESTMODSEQ"])
        with self.assertRaises(imapclient.exceptions.IMAPClientError):
            c.add_flags([1], [imapclient.FLAGGED])  # read-only
        c.close_folder()

    def test_flags(self):
        user = new_user(self.pb)
        c = self.client(user)
        u1, u2, u3 = self.fill(c)
        c.select_folder("INBOX")
        r = c.add_flags([u1, u2], [imapclient.SEEN, b"$Work"])
        self.assertEqual(set(r[u1]), {b"\\Seen", b"$Work"})
        r = c.remove_flags([u1], [b"$Work"])
        self.assertEqual(r[u1], (b"\\Seen",))
        r = c.set_flags([u3], [imapclient.FLAGGED, imapclient.ANSWERED])
        self.assertEqual(set(r[u3]), {b"\\Flagged", b"\\Answered"})
        f = c.get_flags([u1, u2, u3])
        self.assertEqual(f, {u1: (b"\\Seen",), u2: f[u2], u3: f[u3]})
        self.assertEqual(set(f[u2]), {b"\\Seen", b"$Work"})
        self.assertIn(b"$Work", c.select_folder("INBOX")[b"FLAGS"], "new keywords join FLAGS")
        self.assertEqual(sorted(c.search(["KEYWORD", "$Work"])), [u2])
        self.assertEqual(sorted(c.search("UNSEEN")), [u3])

    def test_copy_move_expunge(self):
        user = new_user(self.pb)
        c = self.client(user)
        uids = self.fill(c, n=5)
        c.select_folder("INBOX")
        # imaplib (under imapclient) keeps no tagged response codes, so
        # COPYUID is not visible here; test_imap.py checks it.
        c.copy(uids[:2], "Archive")
        c.move([uids[2]], "Trash")
        self.assertEqual(c.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"], 1)
        self.assertEqual(sorted(c.search("ALL")), [uids[0], uids[1], uids[3], uids[4]])
        # UID EXPUNGE (RFC 4315 §2.1) removes only the listed \Deleted messages
        c.delete_messages([uids[0], uids[1]])
        c.uid_expunge([uids[0]])
        self.assertEqual(sorted(c.search("ALL")), [uids[1], uids[3], uids[4]])
        self.assertEqual(sorted(c.search("DELETED")), [uids[1]])
        text, resps = c.expunge()
        self.assertEqual([r[1] for r in resps], [b"EXPUNGE"])
        self.assertEqual(resps[0][0], 1, "the first remaining message went")
        self.assertEqual(sorted(c.search("ALL")), [uids[3], uids[4]])
        c.select_folder("Archive", readonly=True)
        self.assertEqual(len(c.search("ALL")), 2)

    def test_multiappend(self):
        user = new_user(self.pb)
        c = self.client(user)
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        # imapclient 4.1 writes two SPs between two literals that have no
        # flags or date between them ("{n+}\r\n... {n+}"), which RFC 3502
        # §6.3.11 (append-message = append-opts SP append-data) does not
        # allow, and the server answers BAD; giving each message after the
        # first a flag list (even empty) avoids it.
        typ, data = c.multiappend("INBOX", [simple("ma 1"), {"msg": simple("ma 2"), "flags": [imapclient.SEEN], "date": when},
                                            {"msg": simple("ma 3"), "flags": []}])
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"\[APPENDUID \d+ 1:3\]")  # RFC 4315 §3, RFC 3502 §6.3.11
        c.normalise_times = False
        c.select_folder("INBOX")
        f = c.fetch([2], ["FLAGS", "INTERNALDATE"])
        self.assertEqual(f[2][b"FLAGS"], (b"\\Seen",))
        self.assertEqual(f[2][b"INTERNALDATE"], when)

    def test_large_message(self):
        user = new_user(self.pb)
        c = self.client(user)
        blob = os.urandom(3 * 1024 * 1024)
        b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
        raw = crlf('From: a@remote.test\nSubject: big\nMIME-Version: 1.0\n'
                   'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nsee attached\n'
                   '--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n').encode() \
            + b64 + b"\r\n--b--\r\n"
        c.append("INBOX", raw)
        c.select_folder("INBOX", readonly=True)
        f = c.fetch([1], ["RFC822.SIZE", "BODYSTRUCTURE", "BINARY.SIZE[2]", "BODY.PEEK[]", "BODY.PEEK[2]<1000000.100>"])[1]
        self.assertEqual(f[b"RFC822.SIZE"], len(raw))
        self.assertEqual(f[b"BODY[]"], raw)
        self.assertEqual(f[b"BODYSTRUCTURE"][0][1][6], len(b64))
        self.assertEqual(f[b"BINARY.SIZE[2]"], len(blob))
        self.assertEqual(f[b"BODY[2]<1000000>"], b64[1000000:1000100])

    def test_idle_sees_smtp_delivery(self):
        user = new_user(self.pb)
        c = self.client(user)
        smtp_send(user, simple("before idle", to=user))
        c.select_folder("INBOX")
        c.idle()
        self.assertEqual(c.idle_check(timeout=0.5), [], "nothing happens while nothing changes")
        smtp_send(user, simple("during idle", to=user))
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (2, b"EXISTS") not in seen:
            seen += c.idle_check(timeout=2)
        text, rest = c.idle_done()
        self.assertIn((2, b"EXISTS"), seen + rest)
        env = c.fetch(c.search("ALL")[-1:], ["ENVELOPE"]).popitem()[1][b"ENVELOPE"]
        self.assertEqual(env.subject, b"during idle")

        # changes made by another session arrive as FETCH and EXPUNGE
        other = self.client(user)
        other.select_folder("INBOX")
        c.idle()
        other.add_flags([1], [imapclient.FLAGGED])
        other.delete_messages([1])
        other.expunge()
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (1, b"EXPUNGE") not in seen:
            seen += c.idle_check(timeout=2)
        c.idle_done()
        fetches = [r for r in seen if r[1] == b"FETCH"]
        self.assertTrue(fetches, seen)
        self.assertEqual(fetches[0][0], 1)
        self.assertIn(b"\\Flagged", dict(zip(fetches[0][2][0::2], fetches[0][2][1::2]))[b"FLAGS"])
        self.assertIn((1, b"EXPUNGE"), seen)
        self.assertEqual(len(c.search("ALL")), 1)

    def test_condstore_changedsince(self):
        user = new_user(self.pb)
        c = self.client(user)
        uids = self.fill(c, n=3)
        self.assertEqual(c.enable("CONDSTORE"), [b"CONDSTORE"])
        ms = c.select_folder("INBOX")[b"HIGHESTMODSEQ"]
        c.add_flags([uids[1]], [imapclient.FLAGGED])
        f = c.fetch(uids, ["FLAGS"], modifiers=[f"CHANGEDSINCE {ms}"])
        self.assertEqual(list(f), [uids[1]])
        # RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ in the answer
        self.assertGreater(f[uids[1]][b"MODSEQ"][0], ms)
        self.assertEqual(f[uids[1]][b"FLAGS"], (b"\\Flagged",))
        new = f[uids[1]][b"MODSEQ"][0]
        self.assertEqual(c.fetch(uids, ["FLAGS"], modifiers=[f"CHANGEDSINCE {new}"]), {})
        r = c.search(["MODSEQ", ms + 1])
        self.assertEqual(list(r), [uids[1]])
        self.assertEqual(r.modseq, new)

    def test_thread_conversation(self):
        """RFC 5256 THREAD=REFERENCES and ORDEREDSUBJECT on a conversation."""
        user = new_user(self.pb)
        c = self.client(user)
        if not c.has_capability("THREAD=REFERENCES"):
            self.skipTest("THREAD not advertised")

        def msg(mid, subject, day, refs=""):
            hdr = f"In-Reply-To: {refs.split()[-1]}\nReferences: {refs}\n" if refs else ""
            return crlf(f"From: a@remote.test\nSubject: {subject}\nMessage-ID: {mid}\n{hdr}"
                        f"Date: {day:02d} Jun 2026 10:00:00 +0000\n\nbody\n").encode()
        c.append("INBOX", msg("<t1@x>", "Plan", 1))
        c.append("INBOX", msg("<t2@x>", "Re: Plan", 2, "<t1@x>"))
        c.append("INBOX", msg("<o1@x>", "Other", 3))
        c.append("INBOX", msg("<t3@x>", "Re: Re: Plan", 4, "<t1@x> <t2@x>"))
        c.append("INBOX", msg("<o2@x>", "Fwd: Other", 5))
        c.select_folder("INBOX", readonly=True)
        # (1 2 4): a chain by References; (3 5): "Fwd: Other" joins "Other"
        # by base subject (RFC 5256 §2.1, REFERENCES step 5).
        self.assertEqual(c.thread("REFERENCES"), ((1, 2, 4), (3, 5)))
        if c.has_capability("THREAD=ORDEREDSUBJECT"):
            # the first message is the parent of all the others (siblings)
            self.assertEqual(c.thread("ORDEREDSUBJECT"), ((1, (2,), (4,)), (3, 5)))
        self.assertEqual(c.thread("REFERENCES", ["SUBJECT", "plan"]), ((1, 2, 4),))

    def test_namespace_quota_acl(self):
        user = new_user(self.pb)
        c = self.client(user)
        ns = c.namespace()
        self.assertEqual(ns.personal, (("", "/"),))
        self.assertIsNone(ns.other)
        self.assertIsNone(ns.shared)
        roots, quotas = c.get_quota_root("INBOX")
        self.assertEqual((roots.mailbox, roots.quota_roots, quotas), ("INBOX", [], []), "no quota: no root")
        self.pb.cli("user", "quota", user, "--quota", str(10 * 1024 * 1024))
        self.fill(c, n=2)
        roots, quotas = c.get_quota_root("INBOX")
        self.assertEqual(len(roots.quota_roots), 1)
        self.assertEqual(len(quotas), 1)
        q = quotas[0]
        self.assertEqual((q.quota_root, q.resource, q.limit), (roots.quota_roots[0], "STORAGE", 10 * 1024))
        self.assertGreaterEqual(q.usage, 0)  # units of 1024 octets (RFC 9208 §5.1)
        self.assertEqual(c.get_quota("INBOX"), quotas)
        if c.has_capability("ACL"):
            self.assertTrue(c.getacl("INBOX"))
        else:
            with self.assertRaises(CapabilityError):
                c.getacl("INBOX")


def leaves(bs, path=()):
    """(section path, part) for every non-multipart part of an imapclient
    BODYSTRUCTURE, descending into attached messages."""
    if bs.is_multipart:
        for i, p in enumerate(bs[0], 1):
            yield from leaves(p, path + (i,))
        return
    path = path or (1,)
    yield path, bs
    if bs[0] == b"MESSAGE" and bs[1] == b"RFC822":
        inner = imapclient.response_types.BodyData.create(bs[8])
        yield from leaves(inner, path) if inner.is_multipart else leaves(inner, path + (1,))


class GeneratedCorpusTests(ImapClientBase):
    """Messages from Python's email encoder, cross-checked part by part:
    our ENVELOPE and BODYSTRUCTURE (parsed by imapclient) against Python's
    own parse of the same bytes, and each part's size against BODY[n]."""

    def test_generated_messages(self):
        user = new_user(self.pb, "gen")
        c = self.client(user)
        rnd = random.Random(int(os.environ.get("GEN_SEED", "20260601")))
        sent = [generated_message(rnd) for _ in range(25)]
        raws = [m.as_bytes(policy=email.policy.SMTP) for m in sent]
        for raw in raws:
            c.append("INBOX", raw)
        c.select_folder("INBOX", readonly=True)
        uids = sorted(c.search("ALL"))
        self.assertEqual(len(uids), len(sent))
        f = c.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE"])
        for n, (uid, msg, raw) in enumerate(zip(uids, sent, raws)):
            with self.subTest(message=n):
                r = f[uid]
                self.assertEqual(r[b"RFC822.SIZE"], len(raw))
                env = r[b"ENVELOPE"]
                self.assertEqual(decoded(env.subject), msg["Subject"])
                self.assertEqual([(decoded(a.name) if a.name else "", f"{a.mailbox.decode()}@{a.host.decode()}")
                                  for a in env.to],
                                 [(a.display_name, a.addr_spec) for a in msg["To"].addresses])
                self.assertEqual(env.message_id.decode(), msg["Message-ID"])
                frm = msg["From"].addresses[0]
                self.assertEqual([(decoded(a.name) if a.name else "", f"{a.mailbox.decode()}@{a.host.decode()}")
                                  for a in env.from_], [(frm.display_name, frm.addr_spec)])
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                ours = dict(leaves(r[b"BODYSTRUCTURE"]))
                theirs = dict(email_leaves(parsed))
                self.assertEqual(sorted(ours), sorted(theirs), "the same parts")
                sections = [".".join(map(str, p)) for p in sorted(ours)]
                bodies = c.fetch([uid], [f"BODY.PEEK[{s}]" for s in sections]
                                 + [f"BINARY.SIZE[{s}]" for s in sections])[uid]
                for path, part in ours.items():
                    sec = ".".join(map(str, path))
                    em = theirs[path]
                    self.assertEqual(f"{part[0].decode()}/{part[1].decode()}".lower(), em.get_content_type(), sec)
                    self.assertEqual(part[5].lower().decode(), (em["Content-Transfer-Encoding"] or "7bit").lower(), sec)
                    body = bodies[f"BODY[{sec}]".encode()]
                    self.assertEqual(part[6], len(body), f"size of {sec}")
                    if part[0] == b"TEXT":
                        self.assertEqual(part[7], lines(body), f"lines of {sec}")
                    if em.get_content_type() != "message/rfc822":
                        self.assertEqual(bodies[f"BINARY.SIZE[{sec}]".encode()], len(em.get_payload(decode=True)), sec)
                    if em.get_filename():
                        # body-ext-1part follows body-fields and, for text, the line
                        # count: md5, then the disposition (RFC 9051 §7.5.2)
                        d = part[9] if part[0] == b"TEXT" else part[8]
                        disp = dict(zip(d[1][0::2], d[1][1::2]))
                        if b"FILENAME*" in disp:
                            cs, _, v = disp[b"FILENAME*"].decode().split("'", 2)
                            name = urllib.parse.unquote(v, encoding=cs)
                        else:
                            name = decoded(disp[b"FILENAME"])
                        self.assertEqual(name, em.get_filename(), sec)


if __name__ == "__main__":
    unittest.main()
