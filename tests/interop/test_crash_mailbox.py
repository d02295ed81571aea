"""Crash safety of mailbox changes: IMAP APPEND, MOVE, STORE+EXPUNGE and
POP3 DELE+QUIT run concurrently (with SMTP deliveries) while the server is
killed with SIGKILL at a random moment, three times over. After each restart
`pillarbox check` passes and every acknowledged change (tagged OK, +OK, 250)
is present: appended and delivered messages exist exactly once, moved ones
are in the target mailbox, expunged and POP3-deleted ones are gone."""

import collections
import email
import imaplib
import poplib
import random
import re
import smtplib
import threading
import time
import unittest

from common import PORTS, Pillarbox

PW = "crash-mailbox-password"
ROUNDS = 3
MID = re.compile(rb"Message-ID:\s*(<[^>]+>)", re.I)


def message(mid, n=20):
    return (f"From: x@remote.test\r\nTo: alice@example.org\r\nSubject: {mid}\r\n"
            f"Message-ID: {mid}\r\n\r\n" + ("z" * 60 + "\r\n") * n).encode()


def imap_login(user):
    m = imaplib.IMAP4("127.0.0.1", PORTS["imap"], timeout=20)
    m.login(user, PW)
    return m


def uid_mids(m):
    """{uid: Message-ID} of the selected mailbox."""
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    out = {}
    if typ != "OK":
        return out
    for item in data:
        if isinstance(item, tuple):
            uid = re.search(rb"UID (\d+)", item[0])
            mid = MID.search(item[1])
            if uid and mid:
                out[int(uid.group(1))] = mid.group(1).decode()
    return out


class Ledger:
    """What the clients were told, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.appended = set()       # INBOX APPEND got OK
        self.moved = set()          # UID MOVE INBOX -> Archive got OK
        self.trash_appended = set() # APPEND to Trash got OK
        self.expunge_tried = set()  # \Deleted set or EXPUNGE sent (outcome unknown)
        self.expunged = set()       # EXPUNGE got OK for these
        self.delivered_bob = set()  # SMTP 250 to bob
        self.dele_tried = set()     # DELE sent before a QUIT (outcome unknown)
        self.deleted_bob = set()    # QUIT got +OK for these

    def add(self, name, items):
        with self.lock:
            getattr(self, name).update(items)


def appender(ledger, stop, tag):
    i = 0
    try:
        m = imap_login("alice@example.org")
        while not stop.is_set():
            mid = f"<app-{tag}-{i}@crash.test>"
            typ, _ = m.append("INBOX", None, None, message(mid))
            if typ == "OK":
                ledger.add("appended", [mid])
            i += 1
    except (OSError, imaplib.IMAP4.error, EOFError):
        return


def mover(ledger, stop):
    try:
        m = imap_login("alice@example.org")
        while not stop.is_set():
            m.select("INBOX")
            mids = uid_mids(m)
            uids = sorted(mids)[:3]
            if not uids:
                time.sleep(0.02)
                continue
            typ, _ = m.uid("MOVE", ",".join(map(str, uids)), "Archive")
            if typ == "OK":
                ledger.add("moved", [mids[u] for u in uids])
    except (OSError, imaplib.IMAP4.error, EOFError):
        return


def expunger(ledger, stop, tag):
    i = 0
    try:
        m = imap_login("alice@example.org")
        while not stop.is_set():
            for _ in range(3):
                mid = f"<trash-{tag}-{i}@crash.test>"
                i += 1
                typ, _ = m.append("Trash", None, None, message(mid, 5))
                if typ == "OK":
                    ledger.add("trash_appended", [mid])
            m.select("Trash")
            mids = uid_mids(m)
            uids = sorted(mids)[:2]
            if not uids:
                continue
            ledger.add("expunge_tried", [mids[u] for u in uids])
            m.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Deleted)")
            typ, _ = m.expunge()
            if typ == "OK":
                ledger.add("expunged", [mids[u] for u in uids])
    except (OSError, imaplib.IMAP4.error, EOFError):
        return


def smtp_to_bob(ledger, stop, tag):
    i = 0
    try:
        with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=20) as s:
            while not stop.is_set():
                mid = f"<bob-{tag}-{i}@crash.test>"
                i += 1
                s.sendmail("x@remote.test", ["bob@example.org"], message(mid, 10))
                ledger.add("delivered_bob", [mid])
    except (OSError, smtplib.SMTPException):
        return


def pop3_deleter(ledger, stop):
    try:
        while not stop.is_set():
            p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=20)
            p.user("bob@example.org")
            p.pass_(PW)
            n = p.stat()[0]
            marked = []
            for i in range(1, min(n, 2) + 1):
                raw = b"\r\n".join(p.top(i, 0)[1])
                mid = email.message_from_bytes(raw)["Message-ID"]
                p.dele(i)
                marked.append(mid)
            ledger.add("dele_tried", marked)
            p.quit()  # raises on -ERR
            ledger.add("deleted_bob", marked)
            if not marked:
                time.sleep(0.05)
    except (OSError, poplib.error_proto, EOFError):
        return


def mailbox_mids(user, mailbox):
    m = imap_login(user)
    typ, _ = m.select(mailbox, readonly=True)
    assert typ == "OK", mailbox
    mids = collections.Counter(uid_mids(m).values())
    m.logout()
    return mids


class CrashMailboxTests(unittest.TestCase):
    def test_kill9_during_append_move_expunge_and_pop3_quit(self):
        pb = Pillarbox(plaintext_auth=True).start()
        ledger = Ledger()
        try:
            pb.add_user("alice@example.org", PW)
            pb.add_user("bob@example.org", PW)
            for rnd in range(ROUNDS):
                stop = threading.Event()
                threads = [
                    threading.Thread(target=appender, args=(ledger, stop, f"{rnd}a")),
                    threading.Thread(target=appender, args=(ledger, stop, f"{rnd}b")),
                    threading.Thread(target=mover, args=(ledger, stop)),
                    threading.Thread(target=expunger, args=(ledger, stop, f"{rnd}")),
                    threading.Thread(target=smtp_to_bob, args=(ledger, stop, f"{rnd}")),
                    threading.Thread(target=pop3_deleter, args=(ledger, stop)),
                ]
                for t in threads:
                    t.start()
                time.sleep(random.uniform(1.5, 4.0))
                pb.kill9()
                stop.set()
                for t in threads:
                    t.join(timeout=60)
                pb.start()
                r = pb.cli("check", check=False)
                self.assertEqual(r.returncode, 0, f"round {rnd}: " + r.stdout + r.stderr)
                self.check_ledger(ledger, rnd)
            with ledger.lock:
                counts = {k: len(v) for k, v in vars(ledger).items() if isinstance(v, set)}
            print(f"\ncrash mailbox: {counts}")
            for key in ("appended", "moved", "expunged", "delivered_bob", "deleted_bob"):
                self.assertGreater(counts[key], 0, f"no acknowledged {key}: test too short")
        finally:
            pb.stop()

    def check_ledger(self, ledger, rnd):
        inbox = mailbox_mids("alice@example.org", "INBOX")
        archive = mailbox_mids("alice@example.org", "Archive")
        trash = mailbox_mids("alice@example.org", "Trash")
        bob = mailbox_mids("bob@example.org", "INBOX")
        with ledger.lock:
            both = inbox + archive
            for mid in ledger.appended:
                self.assertEqual(both[mid], 1, f"round {rnd}: appended {mid} not exactly once")
            for mid in ledger.moved:
                self.assertEqual(archive[mid], 1, f"round {rnd}: moved {mid} not in Archive")
                self.assertEqual(inbox[mid], 0, f"round {rnd}: moved {mid} still in INBOX")
            for mid in ledger.expunged:
                self.assertEqual(trash[mid], 0, f"round {rnd}: expunged {mid} present")
            for mid in ledger.trash_appended - ledger.expunge_tried:
                self.assertEqual(trash[mid], 1, f"round {rnd}: {mid} lost from Trash")
            for mid in ledger.deleted_bob:
                self.assertEqual(bob[mid], 0, f"round {rnd}: POP3-deleted {mid} present")
            for mid in ledger.delivered_bob - ledger.dele_tried:
                self.assertEqual(bob[mid], 1, f"round {rnd}: delivered {mid} lost")
            self.assertEqual([m for m, c in (both + trash + bob).items() if c > 1], [],
                             f"round {rnd}: duplicates")


if __name__ == "__main__":
    unittest.main()
