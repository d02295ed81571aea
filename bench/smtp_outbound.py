"""Outbound benchmark: Pillarbox's queue vs. Postfix relaying, and
submission connections per second. See bench/README.md.

Part "outbound" (for each setup in SETUPS, a fresh instance and a fresh
sink each time): SESSIONS parallel client sessions (this script, one
process each, STARTTLS on a persistent session) submit N messages of SIZE
body bytes for sink@sink.test; the instance relays them to a local
`smtp-sink` (Postfix package) on 127.0.0.1:SINK_PORT:

  postfix    private Postfix (postfix.py): smtpd with STARTTLS, relays
             sink.test by transport_maps to smtp:[127.0.0.1]:SINK_PORT
             (like relayhost). Debian defaults otherwise (20 parallel
             deliveries per destination, connection cache on demand).
  pillarbox  the submission listener (STARTTLS, AUTH PLAIN once per
             session), a `[[queue.route]]` for sink.test to the sink;
             queue settings are the defaults. Pillarbox also DKIM-signs
             every message (Postfix does not).

The clock starts at the first connection and stops when the sink has
received all N messages; then the instance's queue must be empty and its
delivery count N (checked, else the run fails).

Part "submission": CONNS connections from PAR client processes, each
connect + EHLO + STARTTLS + EHLO + AUTH PLAIN + QUIT (`tls+auth`), and
the same without AUTH (`tls`), against Pillarbox's submission listener:
connections/s and per-connection latency percentiles.
"""

import datetime
import json
import multiprocessing
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

import dovecot  # noqa: E402
import postfix  # noqa: E402
from smtp_ingest import cpu_times, machine, pillarbox_bin, port_free, wait_port  # noqa: E402

N = int(os.environ.get("N", "10000"))
SIZE = int(os.environ.get("SIZE", "4096"))
SESSIONS = int(os.environ.get("SESSIONS", "8"))
SETUPS = os.environ.get("SETUPS", "postfix pillarbox").split()
PARTS = os.environ.get("PARTS", "outbound submission").split()
CONNS = int(os.environ.get("CONNS", "1000"))
PAR = int(os.environ.get("PAR", "8"))
TIMEOUT = float(os.environ.get("TIMEOUT", str(max(300, N / 10))))
OUT = os.environ.get("OUT")
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"

SENDER = "alice@example.org"
RCPT = "sink@sink.test"
PW = "bench password"
PF_PORT = int(os.environ.get("PF_PORT", "13625"))
SINK_PORT = int(os.environ.get("SINK_PORT", "13699"))
PB_PORTS = {"smtp": 13725, "submission": 13587}
# Postfix submission with Dovecot SASL (the submission part).
PF_SUB_PORT, DOVECOT_AUTH, DOVECOT_LMTP = 13626, 13627, 13628
SUB_SETUPS = os.environ.get("SUB_SETUPS", "pillarbox postfix").split()


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(i):
    line = ("x" * 75 + "\r\n")
    body = (line * (SIZE // len(line) + 1))[:SIZE]
    return (f"From: {SENDER}\r\nTo: {RCPT}\r\nSubject: outbound bench {i}\r\n"
            f"Message-ID: <bench-{i}-{os.getpid()}@example.org>\r\n\r\n{body}\r\n").encode()


# -- the load generators (run in child processes) -----------------------------

def submit_worker(args):
    """One session: STARTTLS (+ AUTH when `login`), then `count` messages.
    Returns when (wall clock) the last one was accepted."""
    port, login, first, count = args
    s = smtplib.SMTP("127.0.0.1", port, timeout=120)
    s.ehlo("client.bench.test")
    s.starttls(context=tls_context())
    s.ehlo("client.bench.test")
    if login:
        s.login(SENDER, PW)
    if not s.has_extn("pipelining"):
        raise RuntimeError("the server does not offer PIPELINING")
    # RFC 2920: MAIL, RCPT and DATA in one write, then the message: two
    # round trips per message, so the client costs little CPU.
    envelope = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode()
    for i in range(first, first + count):
        s.send(envelope)
        replies = [s.getreply() for _ in range(3)]
        if [code for code, _ in replies] != [250, 250, 354]:
            raise RuntimeError(f"message {i}: {replies}")
        s.send(message(i) + b".\r\n")
        code, text = s.getreply()
        if code != 250:
            raise RuntimeError(f"message {i}: {code} {text}")
    accepted = time.time()
    s.quit()
    return accepted


def connect_worker(args):
    """`count` connections: EHLO, STARTTLS, EHLO, [AUTH PLAIN], QUIT; returns
    each connection's seconds."""
    port, auth, count = args
    ctx = tls_context()
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("client.bench.test")
        s.starttls(context=ctx)
        s.ehlo("client.bench.test")
        if auth:
            s.user, s.password = SENDER, PW
            code, text = s.auth("PLAIN", s.auth_plain)
            if code != 235:
                raise RuntimeError(f"AUTH PLAIN: {code} {text}")
        s.quit()
        times.append(time.perf_counter() - t0)
    return times


def _worker_init():
    # Only the driver handles signals; it terminates the pool on its way out.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def cpu_seconds(pids):
    """User+system CPU seconds of these processes (all their threads) and of
    their reaped children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def session_pids(sid):
    """The processes of a session (a Postfix master and its children)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[3]) == sid:
                        pids.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# -- the sink -------------------------------------------------------------------

class Sink:
    """smtp-sink on 127.0.0.1:SINK_PORT; `received()` parses its counter
    (`-c`: "sess=.. quit=.. mesg=N" lines)."""

    def __init__(self):
        if not port_free(SINK_PORT):
            raise RuntimeError(f"port {SINK_PORT} is busy")
        self.proc = subprocess.Popen([SMTP_SINK, "-c", "-u", "postfix",
                                      f"127.0.0.1:{SINK_PORT}", "1000"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.count = 0
        self.sessions = 0
        self.tail = b""
        threading.Thread(target=self._read, daemon=True).start()
        wait_port(SINK_PORT)

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            text = self.tail + chunk
            found = re.findall(rb"sess=(\d+) quit=\d+ mesg=(\d+)", text)
            if found:
                self.sessions, self.count = int(found[-1][0]), int(found[-1][1])
            self.tail = text[-64:]

    def received(self):
        return self.count

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the systems under test ---------------------------------------------------

PB_CONFIG = """
hostname = "mail.example.org"
log = "{log}"
[delivery]
verify_inbound = false
{queue}[[queue.route]]
domain = "sink.test"
host = "127.0.0.1"
port = {sink}
[[listener]]
protocol = "smtp"
address = "127.0.0.1:{smtp}"
tls = "starttls"
[[listener]]
protocol = "submission"
address = "127.0.0.1:{submission}"
tls = "starttls"
"""


class BenchPillarbox:
    name = "pillarbox"

    def __init__(self, binary, dkim=True):
        """dkim=False removes example.org's DKIM keys: mail leaves unsigned,
        like Postfix's (setup `pillarbox-nodkim`)."""
        self.dkim = dkim
        if not dkim:
            self.name = "pillarbox-nodkim"
        self.bin = binary
        self.tmp = tempfile.mkdtemp(prefix="pillarbox-outbound-")
        self.data = os.path.join(self.tmp, "data")
        self.config = os.path.join(self.tmp, "pillarbox.toml")
        with open(self.config, "w") as f:
            queue = ""
            if os.environ.get("QUEUE_CONCURRENCY"):
                queue = f"[queue]\nconcurrency = {int(os.environ['QUEUE_CONCURRENCY'])}\n"
            f.write(PB_CONFIG.format(log=os.environ.get("PB_LOG", "info"), sink=SINK_PORT,
                                     queue=queue, **PB_PORTS))
        self.proc = None
        self.port = PB_PORTS["submission"]
        self.login = True

    def cli(self, *args, stdin=None):
        r = subprocess.run([self.bin, "--data", self.data, "--config", self.config, *args],
                           input=stdin, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"pillarbox {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def start(self):
        for p in PB_PORTS.values():
            if not port_free(p):
                raise RuntimeError(f"port {p} is busy")
        self.logf = open(os.path.join(self.tmp, "server.log"), "a")
        self.proc = subprocess.Popen([self.bin, "--data", self.data, "--config", self.config,
                                      "serve"], stdout=self.logf, stderr=self.logf)
        for p in PB_PORTS.values():
            wait_port(p)
        out = self.cli("domain", "add", "example.org")
        if not self.dkim:
            for selector in re.findall(r"DKIM key (\S+)", out):
                self.cli("domain", "dkim", "example.org", "--remove", selector)
        self.cli("user", "add", SENDER, stdin=PW + "\n")
        return self

    def pids(self):
        return [self.proc.pid]

    def check_done(self):
        """(queue empty, delivered count) from `pillarbox queue stats`."""
        out = self.cli("queue", "stats")
        queued = re.search(r"messages queued:\s+(\d+)", out)
        delivered = re.search(r"delivered:\s+(\d+)", out)
        return (queued is not None and int(queued.group(1)) == 0,
                int(delivered.group(1)) if delivered else -1, out)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.logf.close()
        if os.environ.get("KEEP"):
            print(f"  kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self):
        return f"Pillarbox ({self.bin}){'' if self.dkim else ', no DKIM keys'}"

    def password_hash(self):
        """The sender's argon2id PHC string, read from the store."""
        import sqlite3
        db = sqlite3.connect(f"file:{os.path.join(self.data, 'store.sqlite3')}?mode=ro", uri=True)
        try:
            return db.execute("SELECT password_hash FROM accounts WHERE login = ?",
                              (SENDER,)).fetchone()[0]
        finally:
            db.close()


class BenchPostfix:
    name = "postfix"

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="pillarbox-outbound-pf-")
        os.chmod(self.tmp, 0o755)
        key, cert = os.path.join(self.tmp, "key.pem"), os.path.join(self.tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=mx.bench.test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        self.postfix = postfix.PrivatePostfix(
            "sink.test", f"smtp:[127.0.0.1]:{SINK_PORT}", PF_PORT, myhostname="mx.bench.test",
            keep=bool(os.environ.get("KEEP")),
            extra=f"smtpd_tls_security_level = may\nsmtpd_tls_chain_files = {key}, {cert}\n")
        self.port = PF_PORT
        self.login = False

    def start(self):
        if not port_free(PF_PORT):
            raise RuntimeError(f"port {PF_PORT} is busy")
        self.postfix.start()
        return self

    def pids(self):
        return session_pids(self.postfix.master_pid) if self.postfix.master_pid else []

    def check_done(self):
        log = self.postfix.log()
        sent = len(re.findall(r"postfix/smtp\[\d+\]: \w+: to=<[^>]*>, relay=.*status=sent", log))
        return self.postfix.queue_count() == 0, sent, f"{sent} sent in the maillog"

    def stop(self):
        self.postfix.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self):
        v = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True,
                           text=True).stdout.strip()
        return f"Postfix {v} (relay to smtp-sink, Debian defaults)"


# -- runs -------------------------------------------------------------------------

def self_signed(directory):
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=mx.bench.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return key, cert


class BenchPostfixSubmission:
    """Postfix smtpd with STARTTLS and AUTH through Dovecot's SASL service
    (the classic pair), the user's password stored as the same argon2id
    hash Pillarbox uses (same parameters), so both verify the same work."""
    name = "postfix"

    def __init__(self, credentials):
        self.tmp = tempfile.mkdtemp(prefix="pillarbox-outbound-sub-")
        os.chmod(self.tmp, 0o755)
        key, cert = self_signed(self.tmp)
        self.dovecot = dovecot.PrivateDovecot([SENDER], DOVECOT_LMTP, auth_port=DOVECOT_AUTH,
                                              credentials="{ARGON2ID}" + credentials)
        self.postfix = postfix.PrivatePostfix(
            None, None, PF_SUB_PORT, myhostname="submission.bench.test",
            extra=(f"smtpd_tls_security_level = may\nsmtpd_tls_chain_files = {key}, {cert}\n"
                   "smtpd_sasl_auth_enable = yes\nsmtpd_tls_auth_only = yes\n"
                   "smtpd_sasl_type = dovecot\n"
                   f"smtpd_sasl_path = inet:127.0.0.1:{DOVECOT_AUTH}\n"))
        self.port = PF_SUB_PORT

    def start(self):
        for p in (PF_SUB_PORT, DOVECOT_AUTH, DOVECOT_LMTP):
            if not port_free(p):
                raise RuntimeError(f"port {p} is busy")
        self.dovecot.start()
        self.postfix.start()
        return self

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            self.dovecot.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self):
        v = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True,
                           text=True).stdout.strip()
        d = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
        return f"Postfix {v} submission + Dovecot {d} SASL (passwd-file, ARGON2ID)"


def run_outbound(make, pool):
    sink = Sink()
    sut = make()
    try:
        sut.start()
        before = machine()
        parts = {"server": sut.pids(), "client": [p.pid for p in pool._pool],
                 "sink": [sink.proc.pid]}
        used0 = {k: cpu_seconds(v) for k, v in parts.items()}
        cpu0 = cpu_times()
        t0 = time.monotonic()
        t0_wall = time.time()
        jobs = []
        first = 0
        for count in split(N, SESSIONS):
            jobs.append((sut.port, sut.login, first, count))
            first += count
        async_result = pool.map_async(submit_worker, jobs)
        deadline = t0 + TIMEOUT
        while True:
            if async_result.ready():
                async_result.get()  # raises a client error
            if sink.received() >= N or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        done_s = time.monotonic() - t0
        cpu1 = cpu_times()
        parts["server"] = sut.pids()  # Postfix may have started more processes
        used = {k: round(cpu_seconds(v) - used0.get(k, 0), 2) for k, v in parts.items()}
        # Until the last message was accepted (the clients' clock).
        submitted_s = max(async_result.get(timeout=max(1, deadline - time.monotonic()))) - t0_wall
        busy = 100.0 * (1 - (cpu1[1] - cpu0[1]) / max(1, cpu1[0] - cpu0[0]))
        after = machine(top=True)
        if sink.received() < N:
            raise RuntimeError(f"{sut.name}: the sink got {sink.received()} of {N} "
                               f"in {done_s:.1f}s")
        empty, delivered, detail = False, -1, ""
        for _ in range(100):  # the last results may still be being recorded
            empty, delivered, detail = sut.check_done()
            if empty and delivered >= N:
                break
            time.sleep(0.1)
        if not empty or delivered != N:
            raise RuntimeError(f"{sut.name}: queue not empty or {delivered} != {N} delivered:"
                               f" {detail}")
        return {
            "part": "outbound", "setup": sut.name, "system": sut.describe(), "n": N,
            "size": SIZE, "sessions": SESSIONS, "submitted_s": round(submitted_s, 3),
            "done_s": round(done_s, 3), "submit_per_s": round(N / submitted_s, 1),
            "msgs_per_s": round(N / done_s, 1), "sink_received": sink.received(),
            "sink_sessions": sink.sessions,
            "cpu_s": used, "server_cpu_ms_per_msg": round(1000 * used["server"] / N, 3),
            "machine_cpu_busy_pct": round(busy, 1), "load_before": before["loadavg"],
            "load_after": after["loadavg"], "top_after": after["top"],
        }
    finally:
        try:
            sut.stop()
        finally:
            sink.stop()


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def run_submission(sut, pool):
    """Both modes on one instance; returns (results, the sender's password
    hash when the instance is Pillarbox)."""
    results = []
    stored = None
    try:
        sut.start()
        for mode in ("tls", "tls+auth"):
            before = machine()
            cpu0 = cpu_times()
            t0 = time.monotonic()
            jobs = [(sut.port, mode == "tls+auth", c) for c in split(CONNS, PAR)]
            times = [t for chunk in pool.map(connect_worker, jobs) for t in chunk]
            wall = time.monotonic() - t0
            cpu1 = cpu_times()
            busy = 100.0 * (1 - (cpu1[1] - cpu0[1]) / max(1, cpu1[0] - cpu0[0]))
            after = machine(top=True)
            results.append({
                "part": "submission", "setup": sut.name, "mode": mode,
                "system": sut.describe(), "conns": CONNS, "parallel": PAR,
                "wall_s": round(wall, 3), "conns_per_s": round(CONNS / wall, 1),
                "p50_ms": round(1000 * percentile(times, 50), 1),
                "p99_ms": round(1000 * percentile(times, 99), 1),
                "machine_cpu_busy_pct": round(busy, 1), "load_before": before["loadavg"],
                "load_after": after["loadavg"], "top_after": after["top"],
            })
        if isinstance(sut, BenchPillarbox):
            stored = sut.password_hash()
    finally:
        sut.stop()
    return results, stored


def emit(res):
    if OUT:
        with open(OUT, "a") as f:
            f.write(json.dumps(res) + "\n")


def main():
    reasons = []
    if "postfix" in SETUPS and "outbound" in PARTS and postfix.available():
        reasons.append(postfix.available())
    if "outbound" in PARTS and not os.path.exists(SMTP_SINK):
        reasons.append("smtp-sink not found (postfix package)")
    if "submission" in PARTS and "postfix" in SUB_SETUPS:
        reasons += [r for r in (postfix.available(), dovecot.available()) if r]
    pb = pillarbox_bin()
    if (any(s.startswith("pillarbox") for s in SETUPS) or "submission" in PARTS) and not pb:
        reasons.append("no pillarbox binary (cargo build --release -p pillarbox)")
    if reasons:
        sys.exit("smtp-outbound: " + "; ".join(reasons))

    m = machine(top=True)
    print(f"# smtp-outbound {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"# N={N} SIZE={SIZE} SESSIONS={SESSIONS} CONNS={CONNS} PAR={PAR} "
          f"nproc={m['nproc']}")
    print(f"# {m['uptime']}")
    print("# busiest processes before: " + "; ".join(m["top"]))
    if pb:
        kind = "RELEASE" if "/release/" in pb else "DEBUG (not representative)"
        print(f"# pillarbox binary: {pb} [{kind}]")

    makers = {"postfix": BenchPostfix, "pillarbox": lambda: BenchPillarbox(pb),
              "pillarbox-nodkim": lambda: BenchPillarbox(pb, dkim=False)}
    pool = multiprocessing.get_context("fork").Pool(max(SESSIONS, PAR), _worker_init)
    try:
        if "outbound" in PARTS:
            print(f"# {'setup':<16} {'submit/s':>9} {'done/s':>9} {'done_s':>8} {'cpu%':>5}"
                  f" {'sink sess':>9}  load before -> after")
            results = {}
            for setup in SETUPS:
                res = run_outbound(makers[setup], pool)
                results[setup] = res
                print(f"  {setup:<16} {res['submit_per_s']:>9} {res['msgs_per_s']:>9} "
                      f"{res['done_s']:>8} {res['machine_cpu_busy_pct']:>5} "
                      f"{res['sink_sessions']:>9}  "
                      f"{res['load_before']} -> {res['load_after']}", flush=True)
                print(f"  {'':<16} CPU seconds: {res['cpu_s']} "
                      f"(server {res['server_cpu_ms_per_msg']} ms/message)", flush=True)
                print(f"  {'':<16} busiest just after: {'; '.join(res['top_after'])}",
                      flush=True)
                emit(res)
            for name in ("pillarbox", "pillarbox-nodkim"):
                a, b = results.get(name), results.get("postfix")
                if a and b:
                    print(f"# ratio {name}/postfix (messages/s delivered): "
                          f"{a['msgs_per_s'] / b['msgs_per_s']:.2f}x")
        if "submission" in PARTS:
            print(f"# submission: {'mode':<9} {'conns/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'cpu%':>5}  load before -> after")
            # Pillarbox first: the pair gets the argon2id hash from its store.
            credentials = None
            results = {}
            for setup in sorted(SUB_SETUPS, key=lambda name: name != "pillarbox"):
                if setup == "pillarbox":
                    runs, credentials = run_submission(BenchPillarbox(pb), pool)
                else:
                    if credentials is None:
                        b = BenchPillarbox(pb)
                        try:
                            credentials = b.start().password_hash()
                        finally:
                            b.stop()
                    runs, _ = run_submission(BenchPostfixSubmission(credentials), pool)
                for res in runs:
                    results[(setup, res["mode"])] = res
                    print(f"  {setup:<10} {res['mode']:<9} {res['conns_per_s']:>8} "
                          f"{res['p50_ms']:>7} {res['p99_ms']:>7} "
                          f"{res['machine_cpu_busy_pct']:>5}  {res['load_before']} -> "
                          f"{res['load_after']}", flush=True)
                    print(f"  {'':<10} busiest just after: {'; '.join(res['top_after'])}",
                          flush=True)
                    emit(res)
            for mode in ("tls", "tls+auth"):
                a, b = results.get(("pillarbox", mode)), results.get(("postfix", mode))
                if a and b:
                    print(f"# ratio pillarbox/postfix+dovecot connections/s ({mode}): "
                          f"{a['conns_per_s'] / b['conns_per_s']:.2f}x")
        pool.close()
    finally:
        pool.terminate()
        pool.join()
    m = machine(top=True)
    print(f"# after: {m['uptime']}")
    print("# busiest processes now: " + "; ".join(m["top"]))


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        main()
    except KeyboardInterrupt as e:
        sys.exit(f"smtp-outbound: interrupted ({e}); instances stopped")
