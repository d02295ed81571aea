"""Soak test: mixed SMTP/IMAP/POP3 load against one Pillarbox on loopback for
a bounded time, checking state all along. Reports errors (target 0), memory
growth of the server (target flat) and latency percentiles per operation.

State checks: every message that got `250` (SMTP) or `OK` (IMAP APPEND) is
found by the next IMAP/POP3 session of its account unless that account's
client deleted it with an acknowledged EXPUNGE or QUIT; acknowledged
deletions stay deleted; `pillarbox check` passes at the end.

Run via bench/soak.sh (DURATION seconds, default 600)."""

import collections
import email
import imaplib
import json
import os
import poplib
import random
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
from common import PORTS, Pillarbox  # noqa: E402

DURATION = float(os.environ.get("DURATION", "600"))
SMTP_WORKERS = int(os.environ.get("SMTP_WORKERS", "3"))
IMAP_WORKERS = int(os.environ.get("IMAP_WORKERS", "3"))
POP3_WORKERS = int(os.environ.get("POP3_WORKERS", "2"))
PW = "soak-password"
IMAP_USERS = [f"imap{i}@soak.test" for i in range(5)]
POP3_USERS = [f"pop{i}@soak.test" for i in range(5)]
MID = re.compile(rb"Message-ID:\s*(<[^>]+>)", re.I)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.expected = collections.defaultdict(set)  # acknowledged stores
        self.deleted = collections.defaultdict(set)   # acknowledged deletions
        self.user_locks = {u: threading.Lock() for u in IMAP_USERS + POP3_USERS}
        self.latency = collections.defaultdict(list)
        self.errors = collections.Counter()
        self.error_samples = []
        self.ops = collections.Counter()
        self.seq = 0

    def mid(self, tag):
        with self.lock:
            self.seq += 1
            return f"<{tag}-{self.seq}@soak.test>"

    def timed(self, op, seconds):
        with self.lock:
            self.latency[op].append(seconds)
            self.ops[op] += 1

    def error(self, kind, detail):
        with self.lock:
            self.errors[kind] += 1
            if len(self.error_samples) < 20:
                self.error_samples.append(f"{kind}: {detail}")

    def snapshot(self, user):
        with self.lock:
            return set(self.expected[user]) - self.deleted[user]


def body(mid, user, lines):
    return (f"From: load@remote.test\r\nTo: {user}\r\nSubject: soak {mid}\r\n"
            f"Message-ID: {mid}\r\n\r\n" + ("s" * 72 + "\r\n") * lines).encode()


def smtp_worker(st, stop):
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=60) as s:
                for _ in range(50):
                    if stop.is_set():
                        return
                    user = random.choice(IMAP_USERS + POP3_USERS)
                    mid = st.mid("smtp")
                    t = time.monotonic()
                    s.sendmail("load@remote.test", [user], body(mid, user, random.randint(5, 200)))
                    st.timed("smtp_message", time.monotonic() - t)
                    with st.lock:
                        st.expected[user].add(mid)
                    time.sleep(0.02)
        except (OSError, smtplib.SMTPException) as e:
            if not stop.is_set():
                st.error("smtp", repr(e))


def imap_mids(m):
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    out = {}
    for item in data if typ == "OK" else []:
        if isinstance(item, tuple):
            uid = re.search(rb"UID (\d+)", item[0])
            mid = MID.search(item[1])
            if uid and mid:
                out[int(uid.group(1))] = mid.group(1).decode()
    return out


def imap_worker(st, stop):
    while not stop.is_set():
        user = random.choice(IMAP_USERS)
        with st.user_locks[user]:
            try:
                t = time.monotonic()
                m = imaplib.IMAP4("127.0.0.1", PORTS["imap"], timeout=60)
                m.login(user, PW)
                st.timed("imap_login", time.monotonic() - t)
                want = st.snapshot(user)
                t = time.monotonic()
                m.select("INBOX")
                mids = imap_mids(m)
                st.timed("imap_select_fetch", time.monotonic() - t)
                missing = want - set(mids.values())
                if missing:
                    st.error("imap_missing", f"{user}: {sorted(missing)[:3]}")
                with st.lock:
                    gone = st.deleted[user] & set(mids.values())
                if gone:
                    st.error("imap_resurrected", f"{user}: {sorted(gone)[:3]}")
                mid = st.mid("append")
                t = time.monotonic()
                typ, _ = m.append("INBOX", "(\\Seen)", None, body(mid, user, 20))
                st.timed("imap_append", time.monotonic() - t)
                if typ == "OK":
                    with st.lock:
                        st.expected[user].add(mid)
                else:
                    st.error("imap_append", typ)
                if len(mids) > 20:
                    uids = random.sample(sorted(mids), 5)
                    t = time.monotonic()
                    m.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Deleted)")
                    typ, _ = m.expunge()
                    st.timed("imap_store_expunge", time.monotonic() - t)
                    if typ == "OK":
                        with st.lock:
                            st.deleted[user].update(mids[u] for u in uids)
                    else:
                        st.error("imap_expunge", typ)
                t = time.monotonic()
                m.uid("SEARCH", "TEXT", "soak")
                st.timed("imap_search", time.monotonic() - t)
                m.logout()
            except (OSError, imaplib.IMAP4.error, EOFError) as e:
                if not stop.is_set():
                    st.error("imap", repr(e))


def pop3_worker(st, stop):
    while not stop.is_set():
        user = random.choice(POP3_USERS)
        with st.user_locks[user]:
            try:
                want = st.snapshot(user)
                t = time.monotonic()
                p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=60)
                p.user(user)
                p.pass_(PW)
                st.timed("pop3_login", time.monotonic() - t)
                n = p.stat()[0]
                present = {}
                t = time.monotonic()
                for i in range(1, n + 1):
                    raw = b"\r\n".join(p.top(i, 0)[1])
                    present[i] = email.message_from_bytes(raw)["Message-ID"]
                st.timed("pop3_top_all", time.monotonic() - t)
                missing = want - set(present.values())
                if missing:
                    st.error("pop3_missing", f"{user}: {sorted(missing)[:3]}")
                marked = []
                for i in list(present)[: max(0, n - 10)]:
                    t = time.monotonic()
                    p.retr(i)
                    st.timed("pop3_retr", time.monotonic() - t)
                    p.dele(i)
                    marked.append(present[i])
                t = time.monotonic()
                p.quit()
                st.timed("pop3_quit", time.monotonic() - t)
                with st.lock:
                    st.deleted[user].update(marked)
            except (OSError, poplib.error_proto, EOFError) as e:
                if not stop.is_set():
                    st.error("pop3", repr(e))
        time.sleep(0.1)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    pb = Pillarbox(plaintext_auth=True).start()
    st = State()
    try:
        for u in IMAP_USERS + POP3_USERS:
            pb.add_user(u, PW)
        stop = threading.Event()
        workers = ([threading.Thread(target=smtp_worker, args=(st, stop)) for _ in range(SMTP_WORKERS)]
                   + [threading.Thread(target=imap_worker, args=(st, stop)) for _ in range(IMAP_WORKERS)]
                   + [threading.Thread(target=pop3_worker, args=(st, stop)) for _ in range(POP3_WORKERS)])
        for w in workers:
            w.start()
        start = time.monotonic()
        samples = []
        warmup = min(60.0, DURATION / 5)
        while time.monotonic() - start < DURATION:
            time.sleep(min(5.0, DURATION / 20))
            samples.append((round(time.monotonic() - start), rss_kib(pb.proc.pid)))
        stop.set()
        for w in workers:
            w.join(timeout=120)
        r = pb.cli("check", check=False)
        if r.returncode != 0:
            st.error("check", r.stdout + r.stderr)
        after_warmup = [kib for t, kib in samples if t >= warmup] or [samples[-1][1]]
        report = {
            "duration_secs": DURATION,
            "workers": {"smtp": SMTP_WORKERS, "imap": IMAP_WORKERS, "pop3": POP3_WORKERS},
            "operations": dict(st.ops),
            "errors": dict(st.errors),
            "error_samples": st.error_samples,
            "rss_kib": {"after_warmup": after_warmup[0], "end": samples[-1][1],
                        "max": max(k for _, k in samples),
                        "growth_after_warmup_pct": round(100 * (samples[-1][1] - after_warmup[0])
                                                         / max(after_warmup[0], 1), 1),
                        # (seconds, KiB), at most ~20 points, to tell a leak
                        # (steady climb) from caches filling (levels off).
                        "samples": samples[:: max(1, len(samples) // 20)]},
            "latency_ms": {op: {"p50": round(1000 * pct(v, 0.5), 1),
                                "p99": round(1000 * pct(v, 0.99), 1),
                                "max": round(1000 * max(v), 1)}
                           for op, v in sorted(st.latency.items())},
        }
        print(json.dumps(report, indent=2))
        return 0 if not st.errors else 1
    finally:
        pb.stop()


if __name__ == "__main__":
    sys.exit(main())
