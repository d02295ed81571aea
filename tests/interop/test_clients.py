"""Mail-client interop suite: real, independent clients from Debian against
the real binary. getmail6 retrieves over POP3 and IMAP (keep mode with its
oldmail UIDL/UID tracking, and delete mode); offlineimap3 syncs a local
Maildir both ways over IMAPS. Run by tests/interop/run.sh after the build.

    python3 tests/interop/test_clients.py -v

getmail6 6.18 (Debian 12) has no STARTTLS/STLS support: it talks plain POP3
and IMAP (only against a server that allows plaintext authentication, which
the suite does on loopback in a class of its own) or implicit TLS (POP3S,
IMAPS). Every test uses its own fresh account.
"""

import email
import imaplib
import itertools
import os
import poplib
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from common import PORTS, Pillarbox, insecure_context
from test_imap import by_uid, flagset, list_names, ok, parse_fetch

PW = "correct horse battery staple"
TIMEOUT = 120  # seconds, for every client run
_counter = itertools.count(1)


def new_user(pb, prefix="c"):
    addr = f"{prefix}{next(_counter)}x{os.getpid()}@example.org"
    pb.add_user(addr, PW)
    return addr


def mail(subject, to, body="Hello from the client interop suite.\r\n"):
    """(Message-ID, raw message)."""
    mid = f"<{subject.replace(' ', '.')}.{next(_counter)}.{os.getpid()}@remote.test>"
    raw = (
        f"From: Bob Sender <bob@remote.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: {mid}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}"
    ).encode()
    return mid, raw


# A body that needs care on the way: dot-stuffing in SMTP DATA and POP3
# RETR (a lone "." line, leading dots), an mbox "From " line, and enough
# size (~300 KB) to take several reads and writes.
TRICKY_BODY = (
    "first line\r\n.\r\n.leading dot\r\n..two dots\r\nFrom the start of a line\r\n"
    + "".join(f"{i:06d} " + "x" * 70 + "\r\n" for i in range(4000))
    + ".\r\nlast line\r\n"
)


def body_of(raw):
    """The body of a message, line ends normalised to LF (clients store
    messages with LF)."""
    raw = raw.replace(b"\r\n", b"\n")
    return raw.split(b"\n\n", 1)[1]


def deliver(to, *subjects, body=None):
    """Delivers one message per subject over SMTP; returns their Message-IDs."""
    mids = []
    with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30) as s:
        for subj in subjects:
            mid, raw = mail(subj, to, **({"body": body} if body else {}))
            s.sendmail("bob@remote.test", [to], raw)
            mids.append(mid)
    return mids


def imap_login(user):
    m = imaplib.IMAP4_SSL("127.0.0.1", PORTS["imaps"], ssl_context=insecure_context(), timeout=30)
    ok(m.login(user, PW))
    return m


def imap_message_ids(user, mailbox="INBOX"):
    """{UID: Message-ID} of a mailbox, read with EXAMINE (changes nothing)."""
    m = imap_login(user)
    try:
        ok(m.select(mailbox, readonly=True))
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", data
        return {uid: email.message_from_bytes(d["BODY[HEADER.FIELDS (MESSAGE-ID)]"])["Message-ID"]
                for uid, d in by_uid(parse_fetch(data)).items()}
    finally:
        m.logout()


def pop3_message_ids(user):
    """Message-IDs of the maildrop, read over POP3S (no DELE)."""
    p = poplib.POP3_SSL("127.0.0.1", PORTS["pop3s"], context=insecure_context(), timeout=30)
    try:
        p.user(user)
        p.pass_(PW)
        return [email.message_from_bytes(b"\r\n".join(p.top(i, 0)[1]))["Message-ID"]
                for i in range(1, p.stat()[0] + 1)]
    finally:
        p.quit()


def maildir(path):
    """A fresh, empty Maildir (getmail does not create one)."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return path


def getmail_delivery_user(path):
    """getmail refuses to deliver as root (CI runs as root): it then
    delivers as `nobody`, who gets the Maildir `path`. None when not root."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    os.chmod(os.path.dirname(path), 0o711)
    for d, _, _ in os.walk(path):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    return "nobody"


def maildir_files(folder):
    """{Message-ID: [(path, maildir flags)]} of a Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                mid = email.message_from_bytes(f.read())["Message-ID"]
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out.setdefault(mid, []).append((path, flags))
    return out


def maildir_bodies(folder):
    """{Message-ID: body} of a Maildir folder (see body_of)."""
    out = {}
    for mid, files in maildir_files(folder).items():
        with open(files[0][0], "rb") as f:
            out[mid] = body_of(f.read())
    return out


def maildir_ids(folder):
    """Message-ID -> number of copies in a Maildir folder."""
    return {mid: len(v) for mid, v in maildir_files(folder).items()}


def server_cert(pb):
    cert = os.path.join(pb.data, "tls", "self-signed-cert.pem")
    assert os.path.exists(cert), cert
    return cert


class Base(unittest.TestCase):
    pb = None
    PLAINTEXT = False

    @classmethod
    def setUpClass(cls):
        cls.pb = Pillarbox(plaintext_auth=cls.PLAINTEXT).start()

    @classmethod
    def tearDownClass(cls):
        cls.pb.stop()
        log = cls.pb.server_log()
        if "panicked" in log:
            raise AssertionError(f"the server panicked during {cls.__name__}:\n{log[-4000:]}")

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="pb-client-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()


# ---------------------------------------------------------------- getmail6

class GetmailMixin:
    def getmail_rc(self, user, retriever, port, delete, mailboxes=None, extra=()):
        """Writes a getmail rc file (and its Maildir); returns (rc dir,
        rc name, Maildir path)."""
        rcdir = os.path.join(self.dir, "getmail")
        os.makedirs(rcdir, exist_ok=True)
        dest = maildir(os.path.join(self.dir, "Maildir"))
        lines = [
            "[retriever]", f"type = {retriever}", "server = 127.0.0.1", f"port = {port}",
            f"username = {user}", f"password = {PW}", "timeout = 30",
        ]
        if "SSL" in retriever:
            # verified against the server's self-signed certificate (its
            # subjectAltName has IP 127.0.0.1)
            lines.append(f"ca_certs = {server_cert(self.pb)}")
        if mailboxes:
            lines.append(f"mailboxes = {mailboxes if mailboxes == 'ALL' else repr(mailboxes)}")
        lines += extra
        lines += ["[destination]", "type = Maildir", f"path = {dest}/"]
        user_line = getmail_delivery_user(dest)
        if user_line:
            lines.append(f"user = {user_line}")
        lines += [
            "[options]", "verbose = 2", f"delete = {'true' if delete else 'false'}",
            # keep mode: only mail not seen before (the oldmail file)
            "read_all = false", f"message_log = {os.path.join(rcdir, 'log')}",
        ]
        name = f"rc-{retriever}-{'delete' if delete else 'keep'}"
        with open(os.path.join(rcdir, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        return rcdir, name, dest

    def getmail(self, rcdir, name, check=True):
        r = subprocess.run(
            ["getmail", "--getmaildir", rcdir, "--rcfile", name],
            capture_output=True, text=True, timeout=TIMEOUT,
            env={**os.environ, "HOME": self.dir},
        )
        if check:
            self.assertEqual(r.returncode, 0, f"getmail failed:\n{r.stdout}\n{r.stderr}")
        return r

    def keep_then_new(self, retriever, port, mailboxes=None, extra_folder=None):
        """Keep mode: the first run fetches everything once, a second run
        only the new message; the server keeps all of them."""
        user = new_user(self.pb)
        first = deliver(user, "getmail one") + deliver(user, "getmail tricky", body=TRICKY_BODY)
        folder_ids = []
        if extra_folder:
            m = imap_login(user)
            ok(m.create(extra_folder))
            mid, raw = mail("in folder", user)
            ok(m.append(extra_folder, "()", imaplib.Time2Internaldate(time.time()), raw))
            m.logout()
            folder_ids.append(mid)
        rcdir, name, dest = self.getmail_rc(user, retriever, port, delete=False, mailboxes=mailboxes)
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {mid: 1 for mid in first + folder_ids})
        self.assertEqual(maildir_bodies(dest)[first[1]], TRICKY_BODY.encode().replace(b"\r\n", b"\n"),
                         "the body arrives byte for byte")
        # a run with nothing new fetches nothing
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {mid: 1 for mid in first + folder_ids})
        second = deliver(user, "getmail three")
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {mid: 1 for mid in first + second + folder_ids})
        # nothing was deleted on the server
        self.assertEqual(sorted(imap_message_ids(user).values()), sorted(first + second))
        return user

    def delete_mode(self, retriever, port, verify):
        """Delete mode: everything is fetched once, then gone from the
        server (checked over the other protocol by `verify(user)`)."""
        user = new_user(self.pb)
        mids = deliver(user, "getmail del one", "getmail del two", "getmail del three")
        rcdir, name, dest = self.getmail_rc(user, retriever, port, delete=True)
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {mid: 1 for mid in mids})
        self.assertEqual(verify(user), [])
        later = deliver(user, "getmail del four")
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {mid: 1 for mid in mids + later})
        self.assertEqual(verify(user), [])


@unittest.skipUnless(shutil.which("getmail"), "getmail (getmail6) not installed")
class GetmailTlsTests(GetmailMixin, Base):
    """getmail6 over implicit TLS; the server refuses plaintext logins."""

    def test_pop3s_keep_mode_fetches_only_new_mail(self):
        user = self.keep_then_new("SimplePOP3SSLRetriever", PORTS["pop3s"])
        self.assertEqual(len(pop3_message_ids(user)), 3)

    def test_pop3s_delete_mode(self):
        self.delete_mode("SimplePOP3SSLRetriever", PORTS["pop3s"],
                         lambda user: list(imap_message_ids(user).values()))

    def test_imaps_keep_mode_fetches_only_new_mail(self):
        user = self.keep_then_new("SimpleIMAPSSLRetriever", PORTS["imaps"],
                                  mailboxes=("INBOX", "Work"), extra_folder="Work")
        # getmail fetches with BODY.PEEK (use_peek): nothing became \Seen
        m = imap_login(user)
        try:
            ok(m.select("INBOX", readonly=True))
            for d in parse_fetch(ok(m.fetch("1:*", "(FLAGS)"))).values():
                self.assertNotIn("\\seen", flagset(d["FLAGS"]))
        finally:
            m.logout()

    def test_imaps_delete_mode(self):
        self.delete_mode("SimpleIMAPSSLRetriever", PORTS["imaps"], pop3_message_ids)

    def test_imaps_all_mailboxes(self):
        """`mailboxes = ALL`: getmail LISTs the folders (names with spaces,
        hierarchy and modified UTF-7) and fetches each one once."""
        user = new_user(self.pb)
        inbox = deliver(user, "all inbox")
        m = imap_login(user)
        expected = {}
        try:
            for folder in ("Work", "Work/Sub", '"My Folder"', "&AMk-t&AOk-"):
                ok(m.create(folder))
                label = folder.strip('"')
                mid, raw = mail(f"in {label}", user)
                ok(m.append(folder, "()", imaplib.Time2Internaldate(time.time()), raw))
                expected[mid] = 1
        finally:
            m.logout()
        rcdir, name, dest = self.getmail_rc(user, "SimpleIMAPSSLRetriever", PORTS["imaps"],
                                            delete=False, mailboxes="ALL")
        r = self.getmail(rcdir, name)
        expected.update({mid: 1 for mid in inbox})
        self.assertEqual(maildir_ids(dest), expected, r.stdout)
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), expected)

    def test_imaps_move_on_delete(self):
        """`move_on_delete`: COPY to Archive, then \\Deleted and EXPUNGE."""
        user = new_user(self.pb)
        mids = deliver(user, "move one", "move two")
        rcdir, name, dest = self.getmail_rc(user, "SimpleIMAPSSLRetriever", PORTS["imaps"], delete=True,
                                            extra=["move_on_delete = Archive"])
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {mid: 1 for mid in mids})
        self.assertEqual(imap_message_ids(user), {})
        self.assertEqual(sorted(imap_message_ids(user, "Archive").values()), sorted(mids))

    def test_imaps_search_unseen_and_mark_seen(self):
        """`imap_search = UNSEEN` with `imap_on_delete = (\\Seen)`: getmail
        fetches the unread mail and marks it read instead of deleting it."""
        user = new_user(self.pb)
        read_id, unread_id = deliver(user, "already read", "still unread")
        m = imap_login(user)
        try:
            ok(m.select("INBOX"))
            ok(m.store("1", "+FLAGS", "(\\Seen)"))
        finally:
            m.logout()
        rcdir, name, dest = self.getmail_rc(
            user, "SimpleIMAPSSLRetriever", PORTS["imaps"], delete=True,
            extra=["imap_search = UNSEEN", "imap_on_delete = (\\Seen)"])
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {unread_id: 1})
        later_id = deliver(user, "later unread")[0]
        self.getmail(rcdir, name)
        self.assertEqual(maildir_ids(dest), {unread_id: 1, later_id: 1})
        self.assertEqual(sorted(imap_message_ids(user).values()), sorted([read_id, unread_id, later_id]))
        m = imap_login(user)
        try:
            ok(m.select("INBOX", readonly=True))
            for d in parse_fetch(ok(m.fetch("1:*", "(FLAGS)"))).values():
                self.assertEqual(flagset(d["FLAGS"]), {"\\seen"})
        finally:
            m.logout()

    def test_pop3s_apop_is_not_offered(self):
        """APOP needs a plaintext-equivalent secret, which Pillarbox does not
        keep: the greeting has no timestamp and getmail gives up cleanly."""
        user = new_user(self.pb)
        deliver(user, "no apop")
        rcdir, name, dest = self.getmail_rc(user, "SimplePOP3SSLRetriever", PORTS["pop3s"], delete=True,
                                            extra=["use_apop = true"])
        r = self.getmail(rcdir, name, check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("APOP", r.stdout + r.stderr)
        self.assertEqual(maildir_ids(dest), {})
        self.assertEqual(len(pop3_message_ids(user)), 1)

    def test_plaintext_login_refused_without_tls(self):
        """The server is not weakened for getmail: plain POP3 and IMAP
        logins fail and nothing is retrieved."""
        user = new_user(self.pb)
        deliver(user, "not for plaintext")
        for retriever, port in (("SimplePOP3Retriever", PORTS["pop3"]),
                                ("SimpleIMAPRetriever", PORTS["imap"])):
            rcdir, name, dest = self.getmail_rc(user, retriever, port, delete=True)
            r = self.getmail(rcdir, name, check=False)
            self.assertNotEqual(r.returncode, 0, f"{retriever}: {r.stdout}\n{r.stderr}")
            self.assertEqual(maildir_ids(dest), {})
        self.assertEqual(len(pop3_message_ids(user)), 1)


@unittest.skipUnless(shutil.which("getmail"), "getmail (getmail6) not installed")
class GetmailPlaintextTests(GetmailMixin, Base):
    """getmail6 over plain POP3/IMAP on loopback, against a server that
    allows plaintext authentication (`allow_plaintext_auth = true`)."""

    PLAINTEXT = True

    def test_pop3_keep_mode_fetches_only_new_mail(self):
        self.keep_then_new("SimplePOP3Retriever", PORTS["pop3"])

    def test_imap_delete_mode(self):
        self.delete_mode("SimpleIMAPRetriever", PORTS["imap"], pop3_message_ids)


# ---------------------------------------------------------------- offlineimap3

def maildir_deliver(folder, raw, flags=""):
    """Drops a message into a local Maildir folder like an MUA would."""
    name = f"{time.time():.6f}.{os.getpid()}_{next(_counter)}.localhost"
    if flags:
        path = os.path.join(folder, "cur", f"{name}:2,{flags}")
    else:
        path = os.path.join(folder, "new", name)
    with open(path, "wb") as f:
        f.write(raw)
    return path


def set_maildir_flags(path, flags):
    d, name = os.path.split(path)
    base = name.split(":2,", 1)[0]
    new = os.path.join(os.path.dirname(d), "cur", f"{base}:2,{''.join(sorted(flags))}")
    os.rename(path, new)
    return new


@unittest.skipUnless(shutil.which("offlineimap"), "offlineimap (offlineimap3) not installed")
class OfflineimapTests(Base):
    """offlineimap3 over IMAPS only. Over STARTTLS it fails about one run in
    eight, on the client side: imaplib2 restarts its reader thread right
    after the handshake, so one thread reads the server's TLS 1.3 session
    tickets while another writes the next command on the same OpenSSL
    object, and the client then sends a corrupt record (seen in strace: 40
    zero bytes; the server answers with a decode_error alert) or hangs. A
    20-line Python/OpenSSL STARTTLS server shows the same with OpenSSL's
    default two tickets and never with none. Implicit TLS is immune: the
    tickets arrive with the greeting, before any command is written."""

    def config(self, user, account_extra="", connections=1, local_extra=""):
        mail = os.path.join(self.dir, "mail")
        os.makedirs(mail, exist_ok=True)
        cfg = os.path.join(self.dir, "offlineimaprc")
        with open(cfg, "w") as f:
            f.write(
                "[general]\naccounts = pb\n"
                f"metadata = {os.path.join(self.dir, 'meta')}\n"
                "ui = basic\nmaxsyncaccounts = 1\n\n"
                f"[Account pb]\nlocalrepository = local\nremoterepository = remote\n{account_extra}\n"
                f"[Repository local]\ntype = Maildir\nlocalfolders = {mail}\nsep = /\n{local_extra}\n"
                # the self-signed certificate names "localhost" (offlineimap
                # matches DNS names only, not IP addresses)
                "[Repository remote]\ntype = IMAP\nremotehost = localhost\n"
                f"remoteport = {PORTS['imaps']}\nremoteuser = {user}\nremotepass = {PW}\n"
                f"ssl = yes\nsslcacertfile = {server_cert(self.pb)}\n"
                f"maxconnections = {connections}\ntimeout = 30\n"
            )
        return cfg, mail

    def offlineimap(self, cfg, *args):
        r = subprocess.run(
            # OFFLINEIMAP_ARGS="-d imap -l /tmp/oi.log" logs the IMAP dialogue
            ["offlineimap", "-c", cfg, "-o", "-u", "basic", *args, *os.environ.get("OFFLINEIMAP_ARGS", "").split()],
            capture_output=True, text=True, timeout=TIMEOUT,
            env={**os.environ, "HOME": self.dir},
        )
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, f"offlineimap failed:\n{out}")
        self.assertNotRegex(out, r"(?i)\bERROR\b", out)
        return out

    def server_state(self, m, mailbox):
        """{Message-ID: (UID, flags)} of a mailbox."""
        ok(m.select(mailbox, readonly=True))
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        self.assertEqual(typ, "OK", data)
        out = {}
        for uid, d in by_uid(parse_fetch(data)).items():
            mid = email.message_from_bytes(d["BODY[HEADER.FIELDS (MESSAGE-ID)]"])["Message-ID"]
            out[mid] = (uid, flagset(d["FLAGS"]))
        return out

    def test_two_way_sync(self):
        user = new_user(self.pb)
        inbox_ids = deliver(user, "oi keep", "oi flag", "oi delete")
        m = imap_login(user)
        ok(m.create("Work"))
        ok(m.create("Work/Sub"))
        work_id, raw = mail("oi work", user)
        ok(m.append("Work", "(\\Answered)", imaplib.Time2Internaldate(time.time()), raw))
        sub_id, raw = mail("oi sub", user)
        ok(m.append("Work/Sub", "(\\Seen)", imaplib.Time2Internaldate(time.time()), raw))
        m.logout()

        # three connections: folders are synced in parallel threads
        cfg, mail_dir = self.config(user, connections=3)
        self.offlineimap(cfg)
        inbox = os.path.join(mail_dir, "INBOX")
        self.assertEqual(maildir_ids(inbox), {mid: 1 for mid in inbox_ids})
        self.assertEqual(maildir_ids(os.path.join(mail_dir, "Work")), {work_id: 1})
        self.assertEqual(maildir_files(os.path.join(mail_dir, "Work"))[work_id][0][1], "R")
        self.assertEqual(maildir_files(os.path.join(mail_dir, "Work", "Sub"))[sub_id][0][1], "S")
        # the default folders exist on the server from the start
        for folder in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
            self.assertTrue(os.path.isdir(os.path.join(mail_dir, folder, "cur")), folder)

        m = imap_login(user)
        before = self.server_state(m, "INBOX")
        m.logout()

        # local changes: a flag, a deletion, a new message, a new folder
        files = maildir_files(inbox)
        flag_id, keep_id, del_id = inbox_ids[1], inbox_ids[0], inbox_ids[2]
        set_maildir_flags(files[flag_id][0][0], "FS")
        os.unlink(files[del_id][0][0])
        local_id, raw = mail("oi local new", user)
        maildir_deliver(inbox, raw)
        local_folder = maildir(os.path.join(mail_dir, "Local"))
        folder_msg_id, raw = mail("oi local folder", user)
        maildir_deliver(local_folder, raw, flags="S")
        self.offlineimap(cfg)

        m = imap_login(user)
        try:
            after = self.server_state(m, "INBOX")
            self.assertEqual(set(after), {keep_id, flag_id, local_id})
            self.assertEqual(after[keep_id], before[keep_id], "untouched: same UID and flags")
            self.assertEqual(after[flag_id][0], before[flag_id][0], "a flag change keeps the UID")
            self.assertEqual(after[flag_id][1], {"\\flagged", "\\seen"})
            self.assertGreater(after[local_id][0], max(uid for uid, _ in before.values()))
            self.assertIn("Local", list_names(m))
            local = self.server_state(m, "Local")
            self.assertEqual(set(local), {folder_msg_id})
            self.assertEqual(local[folder_msg_id][1], {"\\seen"})

            # server-side changes: a delivery, a flag, an expunge, a folder
            new_id = deliver(user, "oi server new")[0]
            ok(m.select("INBOX"))
            ok(m.uid("STORE", str(after[keep_id][0]), "+FLAGS", "(\\Answered)"))
            ok(m.uid("STORE", str(after[local_id][0]), "+FLAGS", "(\\Deleted)"))
            ok(m.expunge())
            ok(m.create("Remote"))
            remote_id, raw = mail("oi remote folder", user)
            ok(m.append("Remote", "()", imaplib.Time2Internaldate(time.time()), raw))
        finally:
            m.logout()
        self.offlineimap(cfg)

        files = maildir_files(inbox)
        self.assertEqual(maildir_ids(inbox), {keep_id: 1, flag_id: 1, new_id: 1})
        self.assertEqual(files[keep_id][0][1], "R")
        self.assertEqual(files[flag_id][0][1], "FS")
        self.assertEqual(maildir_ids(os.path.join(mail_dir, "Remote")), {remote_id: 1})
        # a further run changes nothing on either side
        self.offlineimap(cfg)
        self.assertEqual(maildir_ids(inbox), {keep_id: 1, flag_id: 1, new_id: 1})
        m = imap_login(user)
        try:
            self.assertEqual(set(self.server_state(m, "INBOX")), {keep_id, flag_id, new_id})
        finally:
            m.logout()

    def test_folder_names_bodies_and_quick_sync(self):
        """Folder names with spaces and non-ASCII characters (modified
        UTF-7 on the wire, UTF-8 locally with `utf8foldernames`), a large
        body with dot-lines both ways, and a quick (-q) sync."""
        user = new_user(self.pb)
        inbox_id = deliver(user, "oi tricky", body=TRICKY_BODY)[0]
        m = imap_login(user)
        try:
            ok(m.create('"My Folder"'))
            ok(m.create("&AMk-t&AOk-"))  # "Été"
            spaced_id, raw = mail("oi spaced", user)
            ok(m.append('"My Folder"', "(\\Flagged)", imaplib.Time2Internaldate(time.time()), raw))
            utf7_id, raw = mail("oi utf7", user)
            ok(m.append("&AMk-t&AOk-", "()", imaplib.Time2Internaldate(time.time()), raw))
        finally:
            m.logout()
        cfg, mail_dir = self.config(user, account_extra="utf8foldernames = yes\n")
        self.offlineimap(cfg)
        self.assertEqual(maildir_bodies(os.path.join(mail_dir, "INBOX")),
                         {inbox_id: TRICKY_BODY.encode().replace(b"\r\n", b"\n")})
        spaced = maildir_files(os.path.join(mail_dir, "My Folder"))
        self.assertEqual(list(spaced), [spaced_id])
        self.assertEqual(spaced[spaced_id][0][1], "F")
        self.assertEqual(maildir_ids(os.path.join(mail_dir, "Été")), {utf7_id: 1})

        # a new local folder with a non-ASCII name and a large message
        local = maildir(os.path.join(mail_dir, "Local Über"))
        local_id, raw = mail("oi local tricky", user, body=TRICKY_BODY)
        maildir_deliver(local, raw)
        self.offlineimap(cfg)
        m = imap_login(user)
        try:
            self.assertIn("Local &ANw-ber", list_names(m))
            ok(m.select('"Local &ANw-ber"', readonly=True))
            f = by_uid(parse_fetch(ok(m.uid("FETCH", "1:*", "(BODY.PEEK[TEXT] RFC822.SIZE)"))))
            self.assertEqual(len(f), 1)
            (d,) = f.values()
            self.assertEqual(d["BODY[TEXT]"], TRICKY_BODY.encode(), "uploaded byte for byte")
            self.assertEqual(int(d["RFC822.SIZE"]), len(raw))
        finally:
            m.logout()

        # quick sync: a new server message is noticed from the counts alone
        new_id = deliver(user, "oi quick")[0]
        self.offlineimap(cfg, "-q")
        self.assertEqual(maildir_ids(os.path.join(mail_dir, "INBOX")), {inbox_id: 1, new_id: 1})

    def test_keywords_to_maildir(self):
        """IMAP keywords mapped to Maildir flag letters (`customflag_a`),
        on the first sync and when set later on the server. (offlineimap3
        maps keywords one way only: a local letter goes to the server as
        `UID STORE n +FLAGS ()`.)"""
        user = new_user(self.pb)
        labelled, plain = deliver(user, "oi labelled", "oi plain")
        uids = {mid: uid for uid, mid in imap_message_ids(user).items()}
        m = imap_login(user)
        try:
            ok(m.select("INBOX"))
            ok(m.uid("STORE", str(uids[labelled]), "+FLAGS", "($Label1 \\Seen)"))
        finally:
            m.logout()
        cfg, mail_dir = self.config(user, local_extra="customflag_a = $Label1\ncustomflag_b = Work\n")
        self.offlineimap(cfg)
        inbox = os.path.join(mail_dir, "INBOX")
        files = maildir_files(inbox)
        self.assertEqual(files[labelled][0][1], "Sa")
        self.assertEqual(files[plain][0][1], "")
        m = imap_login(user)
        try:
            ok(m.select("INBOX"))
            ok(m.uid("STORE", str(uids[plain]), "+FLAGS", "(Work $Label1)"))
            ok(m.uid("STORE", str(uids[labelled]), "-FLAGS", "($Label1)"))
        finally:
            m.logout()
        self.offlineimap(cfg)
        files = maildir_files(inbox)
        self.assertEqual(files[labelled][0][1], "S")
        self.assertEqual(files[plain][0][1], "ab")

if __name__ == "__main__":
    unittest.main()
