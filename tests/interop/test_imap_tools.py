"""IMAP interop with `imap-tools` (1.x, from PyPI) against the real binary
over implicit TLS and STARTTLS: fetch with AND/OR/NOT criteria, messages
parsed by Python's email package (subject, addresses, text, HTML,
attachment names and bytes), flags, copy, move, delete, folders, IDLE.
It fetches BODY[] through imaplib, so it checks the bytes we store and
serve and the framing of our literals. Run by .ci/run (which pip-installs
it):

    python3 tests/interop/test_imap_tools.py -v
"""

import datetime
import imaplib
import time
import unittest

from common import PORTS, insecure_context, wait_for
from imap_corpus import (A, A_BODY, B, B_HTML, C, C_DATE, C_TEXT, D_BODY, PDF, PW, Base, CorpusMixin,
                         new_user, simple, smtp_send)

try:
    import imap_tools
    from imap_tools import AND, OR, MailBox, MailBoxStartTls, MailMessageFlags
except ImportError:  # pragma: no cover - the CI installs it
    imap_tools = None


@unittest.skipUnless(imap_tools, "imap-tools not installed (pip install imap-tools)")
class ImapToolsTests(CorpusMixin, Base):
    """imap-tools: fetch with criteria, email-parsed messages, flags, move,
    delete, folders. It fetches BODY[] and lets Python's email package parse
    it, so it checks the bytes we store and serve, and imaplib's framing of
    our literals."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.deliver_corpus()

    def mailbox(self, user, starttls=False):
        if starttls:
            mb = MailBoxStartTls("127.0.0.1", PORTS["imap"], timeout=30, ssl_context=insecure_context())
        else:
            mb = MailBox("127.0.0.1", PORTS["imaps"], timeout=30, ssl_context=insecure_context())
        mb.login(user, PW)
        self.clients.append(mb)
        return mb

    def test_parsed_corpus(self):
        mb = self.mailbox(self.user)
        mb.folder.set("INBOX", readonly=True)  # EXAMINE: BODY[] sets no \Seen
        msgs = {m.uid: m for m in mb.fetch(mark_seen=False, bulk=True)}
        self.assertEqual(sorted(int(u) for u in msgs), sorted(self.uids.values()))
        a, b, c, d = (msgs[str(self.uids[k])] for k in "ABCD")

        self.assertEqual(a.subject, "Grüße aus Köln")
        self.assertEqual(a.from_, "john@remote.test")
        self.assertEqual(a.from_values.name, "Doe, John")
        self.assertEqual(a.to, ("a@x.test", "b@x.test", "c@x.test"))
        self.assertEqual(a.text, A_BODY.decode())
        self.assertEqual(a.attachments, [])
        # delivered: the trace headers come on top of what was sent
        self.assertGreater(a.size_rfc822, len(A))

        self.assertEqual(b.subject, "Café crème and tea")
        self.assertEqual(b.from_values.name, "André Martin")
        self.assertEqual(b.text, "Café crème, one line\r\n")
        self.assertEqual(b.html, B_HTML.decode())

        self.assertEqual(c.subject, "Quarterly report with attachments")
        self.assertEqual(c.to, ("bob@remote.test", "alice@example.org"))
        self.assertEqual(c.flags, ("\\Flagged",))
        self.assertEqual(c.size_rfc822, len(C))
        atts = {att.filename: att for att in c.attachments}
        self.assertEqual(set(atts), {"report.pdf", "résumé.txt", ""})
        self.assertEqual(atts["report.pdf"].payload, PDF)
        self.assertEqual(atts["report.pdf"].content_type, "application/pdf")
        self.assertEqual(atts["résumé.txt"].payload, "résumé text\r\n".encode())
        self.assertEqual(atts[""].content_type, "message/rfc822")
        self.assertIn(C_TEXT.decode().strip(), c.text)

        self.assertEqual(d.subject, "Grüße, raw UTF-8 — ok")
        self.assertEqual(d.from_values.name, "Jürgen Müller")
        self.assertEqual(d.to_values[0].name, "Zoë, the Boss")
        self.assertEqual(d.text, D_BODY.decode())
        self.assertEqual(set(d.flags), {"\\Seen", "$Label1"})

        # headers only (BODY.PEEK[HEADER])
        h = list(mb.fetch(AND(uid=str(self.uids["C"])), headers_only=True, mark_seen=False))[0]
        self.assertEqual(h.subject, "Quarterly report with attachments")
        self.assertEqual(h.attachments, [])

    def test_criteria(self):
        mb = self.mailbox(self.user)
        mb.folder.set("INBOX", readonly=True)
        u = {k: str(v) for k, v in self.uids.items()}
        def uids(q, charset="US-ASCII"):
            return sorted(mb.uids(q, charset), key=int)
        self.assertEqual(uids(AND(from_="carol")), [u["C"]])
        self.assertEqual(uids(AND(seen=False, flagged=False)), [u["A"], u["B"]])
        self.assertEqual(uids(OR(from_=["carol", "andre"])), [u["B"], u["C"]])
        self.assertEqual(uids(AND(imap_tools.NOT(seen=True), subject="report")), [u["C"]])
        self.assertEqual(uids(AND(date_gte=datetime.date(2020, 6, 4))), [u["A"], u["B"], u["D"]])
        self.assertEqual(uids(AND(sent_date_lt=datetime.date(2026, 6, 2))), [u["A"]])
        self.assertEqual(uids(AND(size_gt=1000)), [u["C"]])
        self.assertEqual(uids(AND(keyword="$Label1")), [u["D"]])
        self.assertEqual(uids(AND(header=imap_tools.H("Message-ID", "<utf8-d@remote.test>"))), [u["D"]])
        # imap-tools sends non-ASCII criteria as quoted strings, which
        # RFC 3501 §4.3 / §9 (quoted = 7-bit CHARs) allows only once
        # UTF8=ACCEPT is enabled (RFC 6855 §3); before, the server rightly
        # answers BAD. imaplib's enable() switches it to UTF-8 commands.
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            mb.uids(AND(subject="Grüße"), "UTF-8")
        mb = MailBox("127.0.0.1", PORTS["imaps"], timeout=30, ssl_context=insecure_context())
        mb.login(self.user, PW, initial_folder=None)
        self.clients.append(mb)
        self.assertEqual(mb.client.enable("UTF8=ACCEPT")[0], "OK")  # RFC 5161: before SELECT
        mb.folder.set("INBOX", readonly=True)
        self.assertEqual(uids(AND(subject="Grüße"), "UTF-8"), [u["A"], u["D"]])
        # without CHARSET, UTF-8 is implied once UTF8=ACCEPT is on (RFC 6855 §3)
        self.assertEqual(uids(str(AND(body="wörld")).encode(), None), [u["D"]])
        self.assertEqual(uids(AND(uid=imap_tools.U(u["B"], "*"), text="forwarded")), [u["C"]])
        self.assertEqual(uids("ALL", None), sorted(u.values(), key=int))  # no CHARSET

    def test_flags_move_delete_folders(self):
        user = new_user(self.pb, "tools")
        smtp_send(user, A)
        smtp_send(user, B)
        mb = self.mailbox(user)
        mb.append(C, "INBOX", dt=C_DATE, flag_set=[MailMessageFlags.FLAGGED])
        wait_for(lambda: len(mb.uids()) == 3, 10, "three messages")
        ua, ub, uc = sorted(mb.uids(), key=int)
        # fetching without PEEK marks seen
        self.assertEqual([m.subject for m in mb.fetch(AND(uid=ua))], ["Grüße aus Köln"])
        self.assertEqual(mb.uids(AND(seen=True)), [ua])
        mb.flag(ub, MailMessageFlags.SEEN, True)
        mb.flag(ua, MailMessageFlags.SEEN, False)
        self.assertEqual(mb.uids(AND(seen=True)), [ub])

        mb.folder.create("Reports")
        mb.folder.create("Reports/2026")
        self.assertTrue(mb.folder.exists("Reports/2026"))
        folders = {f.name: f for f in mb.folder.list()}
        self.assertIn("Reports/2026", folders)
        self.assertEqual(folders["Reports"].delim, "/")
        self.assertIn("\\HasChildren", folders["Reports"].flags)
        self.assertIn("\\Sent", folders["Sent"].flags)
        mb.move(uc, "Reports/2026")
        self.assertEqual(sorted(mb.uids(), key=int), [ua, ub])
        st = mb.folder.status("Reports/2026")
        self.assertEqual((st["MESSAGES"], st["UNSEEN"]), (1, 1))
        self.assertGreater(st["UIDVALIDITY"], 0)
        self.assertEqual(st["UIDNEXT"], 2)
        mb.folder.set("Reports/2026")
        moved = list(mb.fetch(mark_seen=False))
        self.assertEqual([m.subject for m in moved], ["Quarterly report with attachments"])
        self.assertEqual(moved[0].flags, ("\\Flagged",), "MOVE keeps the flags")
        self.assertEqual({a.filename for a in moved[0].attachments}, {"report.pdf", "résumé.txt", ""})
        mb.copy(moved[0].uid, "INBOX")
        mb.folder.set("INBOX")
        self.assertEqual(len(mb.uids()), 3)
        mb.delete([ua, ub])
        self.assertEqual([m.subject for m in mb.fetch(mark_seen=False)], ["Quarterly report with attachments"])
        mb.folder.rename("Reports/2026", "Reports/Old")
        self.assertEqual(mb.folder.status("Reports/Old")["MESSAGES"], 1)
        mb.folder.subscribe("Reports/Old", True)
        self.assertIn("Reports/Old", [f.name for f in mb.folder.list(subscribed_only=True)])
        mb.folder.delete("Reports/Old")
        self.assertFalse(mb.folder.exists("Reports/Old"))

    def test_starttls_and_idle(self):
        user = new_user(self.pb, "tools")
        mb = self.mailbox(user, starttls=True)
        self.assertEqual(mb.uids(), [])
        mb.idle.start()
        smtp_send(user, simple("idle news", to=user))
        responses = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r.endswith(b"EXISTS") for r in responses):
            responses += mb.idle.poll(timeout=2)
        mb.idle.stop()
        self.assertIn(b"* 1 EXISTS", responses)
        self.assertEqual([m.subject for m in mb.fetch()], ["idle news"])


if __name__ == "__main__":
    unittest.main()
