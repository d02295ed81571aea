"""SMTP ingest benchmark: Pillarbox vs. Postfix + Dovecot (DESIGN.md §9).

For each setup and each session count, start a fresh instance, push N
messages of SIZE bytes with Postfix's `smtp-source`, and measure the wall
time until all N are in alice@example.org's mailbox:

  pair       smtp-source -> private Postfix (SMTP) -> LMTP -> private Dovecot
             (maildir, Dovecot's default fsync); done when N files are in
             Maildir/new+cur.
  pillarbox  smtp-source -> Pillarbox SMTP; Pillarbox answers 250 only once
             the message is durably in the INBOX, so it is done when
             smtp-source exits -- the count is then verified over POP3.

Run via bench/smtp-ingest.sh; settings come from the environment (see
bench/README.md). Needs root (Postfix and Dovecot start as root).
"""

import datetime
import json
import os
import poplib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

import dovecot  # noqa: E402
import postfix  # noqa: E402

N = int(os.environ.get("N", "10000"))
SIZE = int(os.environ.get("SIZE", "4096"))
SESSIONS = [int(s) for s in os.environ.get("SESSIONS", "1 20").split()]
SETUPS = os.environ.get("SETUPS", "pair pillarbox").split()
TIMEOUT = float(os.environ.get("TIMEOUT", str(max(300, N / 10))))
POLL = float(os.environ.get("POLL", "0.05"))
OUT = os.environ.get("OUT")  # optional JSON-lines result file
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"

SENDER = "bob@remote.test"
RCPT = "alice@example.org"
PW = "bench password"

# Private ports, distinct from the interop suite's, so both can run at once.
PF_PORT = int(os.environ.get("PF_PORT", "13025"))
DOVECOT_LMTP = int(os.environ.get("DOVECOT_LMTP", "13024"))
PB_PORTS = {"smtp": 13525, "lmtp": 13424, "pop3": 13110}


def pillarbox_bin():
    if os.environ.get("PILLARBOX_BIN"):
        return os.environ["PILLARBOX_BIN"]
    for profile in ("release", "debug"):
        b = os.path.join(ROOT, "target", profile, "pillarbox")
        if os.path.exists(b):
            return b
    return None


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def busiest(seconds=0.5, count=5):
    """The processes using the most CPU right now (top's second frame, so
    the figures are over `seconds`, not since each process started)."""
    try:
        out = subprocess.run(["top", "-b", "-n", "2", "-d", str(seconds), "-o", "%CPU", "-w", "200"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    frame = out.split("top - ")[-1].splitlines()
    rows, seen = [], False
    for line in frame:
        f = line.split()
        if f and f[0] == "PID":
            seen = True
            continue
        if seen and len(f) >= 12:
            rows.append(f"{f[8]}% {f[11]}")
        if len(rows) == count:
            break
    return rows


def cpu_times():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]  # idle + iowait
    return sum(f[:8]), idle


def machine(top=False):
    load = open("/proc/loadavg").read().split()[:3]
    m = {"nproc": os.cpu_count(), "loadavg": " ".join(load),
         "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    if top:
        m["top"] = busiest()
    return m


# -- the systems under test ---------------------------------------------------

PB_CONFIG = """
hostname = "mail.example.org"
log = "{log}"
[pop3]
allow_plaintext_auth = true
[delivery]
# Like the Postfix+Dovecot pair, which checks nothing: compare ingest only.
verify_inbound = false
[[listener]]
protocol = "smtp"
address = "127.0.0.1:{smtp}"
tls = "starttls"
[[listener]]
protocol = "lmtp"
address = "127.0.0.1:{lmtp}"
tls = "none"
[[listener]]
protocol = "pop3"
address = "127.0.0.1:{pop3}"
tls = "none"
"""


class BenchPillarbox:
    name = "pillarbox"

    def __init__(self, binary):
        self.bin = binary
        self.tmp = tempfile.mkdtemp(prefix="pillarbox-bench-")
        self.data = os.path.join(self.tmp, "data")
        self.config = os.path.join(self.tmp, "pillarbox.toml")
        with open(self.config, "w") as f:
            f.write(PB_CONFIG.format(log=os.environ.get("PB_LOG", "info"), **PB_PORTS))
        self.proc = None
        self.port = PB_PORTS["smtp"]

    def cli(self, *args, stdin=None, check=True):
        r = subprocess.run([self.bin, "--data", self.data, "--config", self.config, *args],
                           input=stdin, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"pillarbox {' '.join(args)} failed: {r.stderr}")
        return r

    def start(self):
        for p in PB_PORTS.values():
            if not port_free(p):
                raise RuntimeError(f"port {p} is busy")
        self.logf = open(os.path.join(self.tmp, "server.log"), "a")
        self.proc = subprocess.Popen([self.bin, "--data", self.data, "--config", self.config,
                                      "serve"], stdout=self.logf, stderr=self.logf)
        for p in PB_PORTS.values():
            wait_port(p)
        self.cli("domain", "add", "example.org", check=False)
        self.cli("user", "add", RCPT, stdin=PW + "\n")
        return self

    def count(self):
        p = poplib.POP3("127.0.0.1", PB_PORTS["pop3"], timeout=60)
        try:
            p.user(RCPT)
            p.pass_(PW)
            return p.stat()[0]
        finally:
            p.quit()

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
        return f"Pillarbox ({self.bin})"


class BenchPair:
    name = "pair"

    def __init__(self):
        self.dovecot = dovecot.PrivateDovecot([RCPT], DOVECOT_LMTP)
        self.postfix = postfix.PrivatePostfix(
            "example.org", f"lmtp:inet:127.0.0.1:{DOVECOT_LMTP}", PF_PORT,
            myhostname="mx.bench.test", keep=bool(os.environ.get("KEEP")))
        self.port = PF_PORT

    def start(self):
        for p in (PF_PORT, DOVECOT_LMTP):
            if not port_free(p):
                raise RuntimeError(f"port {p} is busy")
        self.dovecot.start()
        self.postfix.start()
        return self

    def count(self):
        return self.dovecot.count(RCPT)

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            self.dovecot.stop()

    def describe(self):
        v = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True,
                           text=True).stdout.strip()
        d = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
        return f"Postfix {v} -> LMTP -> Dovecot {d} (maildir, fsync default)"


class BenchSink:
    """Postfix's `smtp-sink`: answers the dialogue and stores nothing. Not a
    competitor: the floor of what smtp-source and the loopback dialogue cost
    on this machine, to which any durable server adds at least one fsync."""
    name = "sink"

    def __init__(self):
        self.port = int(os.environ.get("SINK_PORT", "13600"))
        self.proc = None

    def start(self):
        if not port_free(self.port):
            raise RuntimeError(f"port {self.port} is busy")
        sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        self.proc = subprocess.Popen([sink, "-u", "nobody", f"127.0.0.1:{self.port}", "1000"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def count(self):
        # smtp-source exits non-zero on any refused or lost message, and
        # run_one checks that first: every message was answered 250.
        return N

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def describe(self):
        return "smtp-sink (stores nothing)"


def fsync_floor(count=1000, size=4096):
    """p50 and p90 in microseconds of one `size`-byte write plus fdatasync in
    TMPDIR (a file overwritten in place, as a reused SQLite WAL is)."""
    fd, path = tempfile.mkstemp(prefix="fsync-probe-")
    try:
        os.ftruncate(fd, 4 * 1024 * 1024)
        os.fsync(fd)
        block, times = b"x" * size, []
        for i in range(count):
            os.pwrite(fd, block, (i * size) % (4 * 1024 * 1024))
            t = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - t)
        times.sort()
        return times[count // 2] * 1e6, times[count * 9 // 10] * 1e6
    finally:
        os.close(fd)
        os.unlink(path)


# -- one run ------------------------------------------------------------------

def run_one(make, sessions):
    sut = make()
    try:
        sut.start()
        before = machine()
        cmd = [SMTP_SOURCE, "-4", "-s", str(sessions), "-m", str(N), "-l", str(SIZE),
               "-M", "client.remote.test", "-f", SENDER, "-t", RCPT,
               f"127.0.0.1:{sut.port}"]
        cpu0 = cpu_times()
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        t_sent = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError(f"smtp-source failed (rc {r.returncode}): {r.stderr[-2000:]}")
        # Poll the mailbox until all N are there (bounded).
        deadline = t0 + TIMEOUT
        count = -1
        while True:
            t_check = time.monotonic()
            count = sut.count()
            if count >= N or t_check > deadline:
                break
            time.sleep(POLL)
        t_done = t_check - t0
        cpu1 = cpu_times()
        busy = 100.0 * (1 - (cpu1[1] - cpu0[1]) / max(1, cpu1[0] - cpu0[0]))
        after = machine(top=True)
        if count != N:
            raise RuntimeError(f"{sut.name}: {count} of {N} messages in the mailbox "
                               f"after {t_done:.1f}s")
        return {
            "setup": sut.name, "system": sut.describe(), "sessions": sessions, "n": N,
            "size": SIZE, "accept_s": round(t_sent, 3), "done_s": round(t_done, 3),
            "accept_per_s": round(N / t_sent, 1), "msgs_per_s": round(N / t_done, 1),
            "machine_cpu_busy_pct": round(busy, 1),
            "load_before": before["loadavg"], "load_after": after["loadavg"],
            "top_after": after["top"],
        }
    finally:
        sut.stop()


def main():
    reasons = [r for r in (postfix.available(), dovecot.available()) if r and "pair" in SETUPS]
    if not os.path.exists(SMTP_SOURCE):
        reasons.append("smtp-source not found (postfix package)")
    pb = pillarbox_bin()
    if "pillarbox" in SETUPS and not pb:
        reasons.append("no pillarbox binary (cargo build --release -p pillarbox)")
    if reasons:
        sys.exit("smtp-ingest: " + "; ".join(reasons))

    makers = {"pair": BenchPair, "pillarbox": lambda: BenchPillarbox(pb), "sink": BenchSink}
    m = machine(top=True)
    print(f"# smtp-ingest {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"# N={N} SIZE={SIZE} SESSIONS={' '.join(map(str, SESSIONS))} "
          f"nproc={m['nproc']}")
    print(f"# {m['uptime']}")
    print("# busiest processes before: " + "; ".join(m["top"]))
    if pb and "pillarbox" in SETUPS:
        kind = "RELEASE" if "/release/" in pb else "DEBUG (not representative)"
        print(f"# pillarbox binary: {pb} [{kind}]")
    print(f"# {'setup':<10} {'sess':>4} {'accept/s':>9} {'done/s':>9} {'done_s':>8} "
          f"{'cpu%':>5}  load before -> after")

    results = {}
    for sessions in SESSIONS:
        for setup in SETUPS:
            res = run_one(makers[setup], sessions)
            results[(setup, sessions)] = res
            print(f"  {setup:<10} {sessions:>4} {res['accept_per_s']:>9} {res['msgs_per_s']:>9} "
                  f"{res['done_s']:>8} {res['machine_cpu_busy_pct']:>5}  {res['load_before']} -> {res['load_after']}", flush=True)
            print(f"  {'':<15} busiest just after: {'; '.join(res['top_after'])}", flush=True)
            if OUT:
                with open(OUT, "a") as f:
                    f.write(json.dumps(res) + "\n")
    for sessions in SESSIONS:
        a, b = results.get(("pillarbox", sessions)), results.get(("pair", sessions))
        if a and b:
            print(f"# ratio pillarbox/pair at {sessions} session(s): "
                  f"{a['msgs_per_s'] / b['msgs_per_s']:.2f}x")
    fsync_p50, fsync_p90 = fsync_floor()
    print(f"# fdatasync of 4 KiB in {tempfile.gettempdir()}: p50 {fsync_p50:.0f} us, p90 {fsync_p90:.0f} us")
    for sessions in SESSIONS:
        sink, pair = results.get(("sink", sessions)), results.get(("pair", sessions))
        if sink and sessions == 1:
            # One session is strictly serial: each message waits for its
            # own dialogue and its own fsync before the next starts.
            ceiling = 1e6 / (1e6 / sink["msgs_per_s"] + fsync_p50)
            rel = f" = {ceiling / pair['msgs_per_s']:.2f}x the pair" if pair else ""
            print(f"# ceiling for a durable server at 1 session (sink dialogue + one "
                  f"fdatasync p50): {ceiling:.0f} msg/s{rel}")
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
        sys.exit(f"smtp-ingest: interrupted ({e}); instances stopped")
