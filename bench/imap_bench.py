"""IMAP benchmark: Pillarbox vs. Dovecot, side by side in one run (DESIGN.md §9).

Parts (PARTS, default "mix big idle"), each on fresh private instances:

  mix   the imaptest-style mixed load of crates/bench-imap (`mix` mode):
        CLIENTS clients, DURATION seconds, one account each
        (user1..userN@example.org), each INBOX seeded with SEED messages;
        IMAP commands/s, per-command ops/s, errors, p50/p99.
  big   a BIG_N-message INBOX (big@example.org): STATUS, SELECT,
        FETCH 1:* (FLAGS UID), UID SEARCH HEADER Subject, UID SEARCH BODY,
        each BIG_REPEAT times, results checked against the known corpus.
  idle  IDLE push latency (LAT_ITER iterations: one session IDLEs, another
        APPENDs) and resident memory per idle TLS session (IDLE_CONNS for
        Pillarbox, DOVECOT_IDLE_CONNS for Dovecot), from /proc.

Run via bench/imap-bench.sh; settings come from the environment (see
bench/README.md). Needs root (the Dovecot master starts as root).
"""

import datetime
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import dovecot  # noqa: E402

env = os.environ.get
PARTS = env("PARTS", "mix big idle").split()
SETUPS = env("SETUPS", "dovecot pillarbox").split()
CLIENTS = int(env("CLIENTS", "10"))
DURATION = float(env("DURATION", "30"))
TLS = env("TLS", "0") == "1"
SEED = int(env("SEED", "20"))
MSG_SIZE = int(env("MSG_SIZE", "2048"))
BIG_N = int(env("BIG_N", "100000"))
BIG_REPEAT = int(env("BIG_REPEAT", "5"))
LAT_ITER = int(env("LAT_ITER", "1000"))
# Dovecot delays IDLE notifications by ≈ 0.5 s on purpose, so 1000
# iterations would take 8 minutes; fewer give the same picture.
DOVECOT_LAT_ITER = int(env("DOVECOT_LAT_ITER", "200"))
IDLE_CONNS = int(env("IDLE_CONNS", "10000"))
DOVECOT_IDLE_CONNS = int(env("DOVECOT_IDLE_CONNS", "1000"))
IDLE_USERS = int(env("IDLE_USERS", "10"))
# How Dovecot stores passwords: "argon2id" (the very hash Pillarbox stores,
# so LOGIN costs both servers the same), "plain" (dovecot.py's default, no
# hashing at all), or both ("argon2id plain": two Dovecot runs of mix).
DOVECOT_AUTH = env("DOVECOT_AUTH", "argon2id").split()
OUT = env("OUT")
# Extra environment for the Pillarbox server, e.g. "MALLOC_MMAP_THRESHOLD_=131072"
# (a diagnostic: see RESULTS.md on memory per session).
PB_ENV = dict(kv.split("=", 1) for kv in env("PB_ENV", "").split())
PW = "secret"

PB_PORTS = {"imap": int(env("PB_IMAP", "14143")), "imaps": int(env("PB_IMAPS", "14993"))}
DC_PORTS = {"imap": int(env("DOVECOT_IMAP", "13143")), "imaps": int(env("DOVECOT_IMAPS", "13993"))}
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]


def find_bin(name, env_var):
    if env(env_var):
        return env(env_var)
    for profile in ("release", "debug"):
        b = os.path.join(ROOT, "target", profile, name)
        if os.path.exists(b):
            return b
    return None


def kind(path):
    return "RELEASE" if "/release/" in path else "DEBUG (not representative)"


# -- machine state (as in smtp_ingest.py) -------------------------------------

def cpu_times():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f[:8]), f[3] + f[4]


def busy_pct(c0, c1):
    return 100.0 * (1 - (c1[1] - c0[1]) / max(1, c1[0] - c0[0]))


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def busiest(count=5):
    try:
        out = subprocess.run(["top", "-b", "-n", "2", "-d", "0.5", "-o", "%CPU", "-w", "200"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows, seen = [], False
    for line in out.split("top - ")[-1].splitlines():
        f = line.split()
        if f and f[0] == "PID":
            seen = True
            continue
        if seen and len(f) >= 12:
            rows.append(f"{f[8]}% {f[11]}")
        if len(rows) == count:
            break
    return rows


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


# -- memory from /proc ---------------------------------------------------------

def proc_kib(pid, field, fname="status"):
    """A `Field:   123 kB` value of /proc/PID/status or smaps_rollup, KiB."""
    try:
        with open(f"/proc/{pid}/{fname}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def proc_tree(root):
    """root and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_mem(root, pss=True):
    pids = proc_tree(root)
    rss = sum(proc_kib(p, "VmRSS") for p in pids)
    pss = sum(proc_kib(p, "Pss", "smaps_rollup") for p in pids) if pss else 0
    return {"procs": len(pids), "rss_kib": rss, "pss_kib": pss}


# -- the tool -------------------------------------------------------------------

def tool(args, timeout, echo=True):
    """Runs pillarbox-bench-imap; returns its RESULT json (or None)."""
    r = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=timeout)
    result = None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        elif echo:
            print("    " + line, flush=True)
    if r.stderr.strip():
        for line in r.stderr.strip().splitlines()[:20]:
            print("    ! " + line, flush=True)
    if r.returncode != 0:
        raise RuntimeError(f"pillarbox-bench-imap {' '.join(args[:1])} failed (rc {r.returncode})")
    return result


def users(n, fmt="user{}@example.org"):
    return [fmt.format(i) for i in range(1, n + 1)]


# -- the systems under test -----------------------------------------------------

PB_CONFIG = """
hostname = "mail.example.org"
log = "{log}"
[limits]
connections_per_ip = 1000000
connections_total = 1000000
[imap]
allow_plaintext_auth = true
auth_failure_delay_ms = 0
max_sessions_per_account = 1000000
[[listener]]
protocol = "imap"
address = "127.0.0.1:{imap}"
tls = "none"
[[listener]]
protocol = "imap"
address = "127.0.0.1:{imaps}"
tls = "implicit"
"""


class Pillarbox:
    name = "pillarbox"

    def __init__(self, accounts):
        self.accounts = accounts
        self.tmp = tempfile.mkdtemp(prefix="pillarbox-bench-imap-")
        self.data = os.path.join(self.tmp, "data")
        self.config = os.path.join(self.tmp, "pillarbox.toml")
        with open(self.config, "w") as f:
            f.write(PB_CONFIG.format(log=env("PB_LOG", "warn"), **PB_PORTS))
        self.proc = None
        self.ports = PB_PORTS

    def cli(self, *args, stdin=None):
        r = subprocess.run([PB_BIN, "--data", self.data, "--config", self.config, *args],
                           input=stdin, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"pillarbox {' '.join(args)} failed: {r.stderr}")
        return r

    def start(self):
        for p in self.ports.values():
            if not port_free(p):
                raise RuntimeError(f"port {p} is busy")
        self.cli("domain", "add", "example.org")
        for u in self.accounts:
            self.cli("user", "add", u, stdin=PW + "\n")
        self.logf = open(os.path.join(self.tmp, "server.log"), "a")
        self.proc = subprocess.Popen([PB_BIN, "--data", self.data, "--config", self.config,
                                      "serve"], stdout=self.logf, stderr=self.logf,
                                     env={**os.environ, **PB_ENV})
        for p in self.ports.values():
            wait_port(p)
        return self

    def seed(self, user, count, conns=1, batch=500):
        return tool(["seed", "--port", str(self.ports["imap"]), "--user", user,
                     "--password", PW, "--count", str(count), "--conns", str(conns),
                     "--batch", str(batch)], timeout=max(600, count / 20), echo=False)

    def mem(self, pss=True):
        return {"procs": 1, "rss_kib": proc_kib(self.proc.pid, "VmRSS"),
                "pss_kib": proc_kib(self.proc.pid, "Pss", "smaps_rollup") if pss else 0}

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
        if env("KEEP"):
            print(f"  kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self):
        extra = f", env {' '.join(f'{k}={v}' for k, v in PB_ENV.items())}" if PB_ENV else ""
        return f"Pillarbox ({PB_BIN}, {kind(PB_BIN)}{extra})"


DC_CONF = """\
# Private IMAP benchmark instance, generated by bench/imap_bench.py.
instance_name = pillarbox-bench-imap-{imap}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
mail_fsync = optimized
postmaster_address = postmaster@example.org
hostname = dovecot.bench.test
# Only limits are raised, so that the connection counts asked for fit;
# everything else is Dovecot's default (high-security login processes,
# no hibernation, no FTS plugin, no auth cache).
default_process_limit = {plimit}
default_client_limit = {climit}

passdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}

protocol imap {{
  mail_max_userip_connections = 1000000
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
  process_limit = {plimit}
}}
service imap {{
  process_limit = {plimit}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"""

_ARGON2_HASH = None


def argon2_hash():
    """The argon2id PHC string Pillarbox stores for password PW (made by the
    real CLI in a throw-away data dir), so Dovecot verifies exactly the same
    hash at exactly the same cost."""
    global _ARGON2_HASH
    if _ARGON2_HASH is None:
        tmp = tempfile.mkdtemp(prefix="pillarbox-bench-hash-")
        try:
            data = os.path.join(tmp, "data")
            for args, stdin in ((["domain", "add", "example.org"], None),
                                (["user", "add", "hash@example.org"], PW + "\n")):
                subprocess.run([PB_BIN, "--data", data, *args], input=stdin, text=True,
                               capture_output=True, check=True, timeout=60)
            db = sqlite3.connect(f"file:{data}/store.sqlite3?mode=ro", uri=True)
            _ARGON2_HASH = db.execute(
                "SELECT password_hash FROM accounts WHERE login = 'hash@example.org'"
            ).fetchone()[0]
            db.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _ARGON2_HASH


class Dovecot(dovecot.PrivateDovecot):
    """dovecot.PrivateDovecot (users, maildir homes, start/stop) with an IMAP
    configuration instead of its LMTP one."""

    def __init__(self, accounts, auth="argon2id", max_conns=200):
        super().__init__(accounts, lmtp_port=DC_PORTS["imap"], password=PW)
        self.name = "dovecot" if auth == "argon2id" else f"dovecot-{auth}"
        self.auth = auth
        self.ports = DC_PORTS
        self.port = DC_PORTS["imap"]  # what start() waits for
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=dovecot.bench.test",
                        "-keyout", os.path.join(self.root, "key.pem"),
                        "-out", os.path.join(self.root, "cert.pem")],
                       check=True, capture_output=True, timeout=60)
        plimit = max(1000, max_conns + 100)
        with open(self.conf, "w") as f:
            f.write(DC_CONF.format(root=self.root, uid=self.uid, gid=self.gid,
                                   plimit=plimit, climit=2 * plimit + 1000, **DC_PORTS))
        if auth == "argon2id":
            h = "{ARGON2ID}" + argon2_hash()
            with open(os.path.join(self.root, "users")) as f:
                lines = f.readlines()
            with open(os.path.join(self.root, "users"), "w") as f:
                for line in lines:
                    u, _, rest = line.split(":", 2)
                    f.write(f"{u}:{h}:{rest}")

    def start(self, timeout=30):
        for p in self.ports.values():
            if not port_free(p):
                raise RuntimeError(f"port {p} is busy")
        return super().start(timeout)

    def seed(self, user, count, conns=1, batch=500):
        """Maildir files written directly (Dovecot indexes them on first
        access; that first access is reported separately)."""
        md = os.path.join(self.mail, user, "Maildir")
        r = subprocess.run([TOOL, "gen-maildir", "--dir", md, "--count", str(count)],
                           capture_output=True, text=True, timeout=max(600, count / 100))
        if r.returncode != 0:
            raise RuntimeError(f"gen-maildir: {r.stderr}")
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", md], check=True, timeout=600)

    def mem(self, pss=True):
        return tree_mem(self.pid, pss)

    def describe(self):
        d = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
        return (f"Dovecot {d} (maildir, fsync default, passwd-file "
                f"{'argon2id (same hash as Pillarbox)' if self.auth == 'argon2id' else self.auth})")


def instances(accounts, max_conns=200, every_auth=True):
    """Fresh, not yet started instances of each setup; Dovecot once per
    DOVECOT_AUTH entry (or only the first, when the password scheme cannot
    matter)."""
    for setup in SETUPS:
        if setup == "pillarbox":
            yield Pillarbox(accounts)
        elif setup == "dovecot":
            for auth in (DOVECOT_AUTH if every_auth else DOVECOT_AUTH[:1]):
                yield Dovecot(accounts, auth, max_conns)
        else:
            raise RuntimeError(f"unknown setup {setup}")


def record(res):
    if OUT:
        with open(OUT, "a") as f:
            f.write(json.dumps(res) + "\n")


def target_args(sut, tls=None):
    tls = TLS if tls is None else tls
    port = sut.ports["imaps" if tls else "imap"]
    return ["--port", str(port), "--password", PW] + (["--tls"] if tls else [])


# -- parts -------------------------------------------------------------------------

def part_mix():
    print(f"\n## mix: {CLIENTS} clients, {DURATION:g} s, {'TLS' if TLS else 'plain'}, "
          f"{SEED} messages per INBOX, APPEND {MSG_SIZE} B", flush=True)
    accounts = users(CLIENTS)
    res = {}
    for sut in instances(accounts):
        try:
            sut.start()
            for u in accounts:
                sut.seed(u, SEED)
            print(f"  {sut.describe()}", flush=True)
            load0, c0 = loadavg(), cpu_times()
            r = tool(["mix", *target_args(sut), "--clients", str(CLIENTS),
                      "--duration", str(DURATION), "--msg-size", str(MSG_SIZE),
                      "--label", sut.name], timeout=DURATION + 600)
            c1 = cpu_times()
            r.update(setup=sut.name, system=sut.describe(), cpu_busy_pct=round(busy_pct(c0, c1), 1),
                     load_before=load0, load_after=loadavg(), top_after=busiest())
            print(f"    cpu% {r['cpu_busy_pct']}  load {load0} -> {r['load_after']}; "
                  f"busiest: {'; '.join(r['top_after'])}", flush=True)
            res[sut.name] = r
            record(r)
        finally:
            sut.stop()
    pb = res.get("pillarbox")
    for name, r in res.items():
        if pb and name != "pillarbox" and r["commands_per_s"]:
            print(f"  ratio pillarbox/{name} (IMAP commands/s): "
                  f"{pb['commands_per_s'] / r['commands_per_s']:.2f}x  "
                  f"({pb['commands_per_s']:.0f} vs {r['commands_per_s']:.0f}; errors "
                  f"{pb['errors']} vs {r['errors']})", flush=True)


BIG_OPS = ["status", "select", "fetch_flags", "search_subject", "search_body"]


def wait_indexed(data, timeout=1800):
    """Seconds until Pillarbox's full-text backlog (`fts_pending`) is empty,
    read through a read-only SQLite connection while the server runs."""
    import sqlite3
    t0 = time.monotonic()
    db = "file:" + os.path.join(data, "store.sqlite3") + "?mode=ro"
    while time.monotonic() - t0 < timeout:
        con = sqlite3.connect(db, uri=True, timeout=30)
        try:
            pending = con.execute("SELECT count(*) FROM fts_pending").fetchone()[0]
        finally:
            con.close()
        if pending == 0:
            break
        time.sleep(0.5)
    return time.monotonic() - t0


def part_big():
    print(f"\n## big: one INBOX of {BIG_N} messages, each command {BIG_REPEAT} times", flush=True)
    user = "big@example.org"
    res = {}
    for sut in instances([user], every_auth=False):
        try:
            sut.start()
            t0 = time.monotonic()
            seeded = sut.seed(user, BIG_N, conns=4, batch=1000)
            secs = time.monotonic() - t0
            how = "IMAP MULTIAPPEND, 4 sessions" if sut.name == "pillarbox" else \
                "Maildir files written directly"
            print(f"  {sut.describe()}: seeded {BIG_N} in {secs:.1f} s ({how})", flush=True)
            if sut.name == "pillarbox":
                # Full-text indexing is deferred (ARCHITECTURE.md): measure
                # searches against the indexed store, as in steady state,
                # not while the indexer catches up with a bulk import.
                waited = wait_indexed(sut.data)
                print(f"  pillarbox: full-text backlog indexed {waited:.1f} s after seeding",
                      flush=True)
            r = tool(["big", *target_args(sut, tls=False), "--user", user,
                      "--count", str(BIG_N), "--repeat", str(BIG_REPEAT), "--label", sut.name],
                     timeout=3600)
            r.update(setup=sut.name, system=sut.describe(), seed_s=round(secs, 2),
                     load_after=loadavg())
            if seeded:
                r["seed_msg_per_s"] = seeded.get("msg_per_s")
            res[sut.name] = r
            record(r)
        finally:
            sut.stop()
    pb = res.get("pillarbox")
    dc = next((r for n, r in res.items() if n != "pillarbox"), None)
    if pb and dc:
        print(f"  {'command':<15} {'Dovecot ms':>11} {'Pillarbox ms':>13} {'Dovecot/Pillarbox':>18}"
              f"   (warm median; first run after seeding: Dovecot / Pillarbox)")
        for op in BIG_OPS:
            d, p = dc[f"{op}_median_ms"], pb[f"{op}_median_ms"]
            ratio = d / p if p else float("inf")
            print(f"  {op:<15} {d:>11.2f} {p:>13.2f} {ratio:>17.2f}x   "
                  f"({dc[f'{op}_first_ms']:.1f} / {pb[f'{op}_first_ms']:.1f})", flush=True)


def idle_steps(total):
    """Connection counts to measure at: IDLE_STEPS below `total`, then it."""
    steps = sorted({int(x) for x in env("IDLE_STEPS", "100 300 1000 3000 10000").split() if int(x) < total})
    return steps + [total]


class Holders:
    """idle-hold processes (at most PER_PROC sessions each: ulimit -n is
    20 000 per process) and their source addresses."""

    PER_PROC = 5000

    def __init__(self, sut):
        self.sut = sut
        self.children = []
        self.ok = self.failed = 0

    def add(self, conns, reserve_kib):
        """Opens `conns` more sessions; returns False if the machine's
        MemAvailable fell below reserve_kib while they were opening."""
        procs = max(1, -(-conns // self.PER_PROC))
        new = []
        for k in range(procs):
            n = conns // procs + (1 if k < conns % procs else 0)
            src = SOURCES[len(self.children) % len(SOURCES)]
            ch = subprocess.Popen(
                [TOOL, "idle-hold", *target_args(self.sut, tls=True), "--users", str(IDLE_USERS),
                 "--conns", str(n), "--sources", src, "--concurrency", "32",
                 "--hold", "3600"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.children.append(ch)
            new.append(ch)
        lines = {}

        def reader(ch):
            lines[ch.pid] = ch.stdout.readline()

        threads = [threading.Thread(target=reader, args=(ch,), daemon=True) for ch in new]
        for t in threads:
            t.start()
        deadline = time.monotonic() + max(600, conns / 5)
        while any(t.is_alive() for t in threads):
            if mem_available_kib() < reserve_kib:
                return False
            if time.monotonic() > deadline:
                raise RuntimeError("idle-hold: sessions did not open in time")
            time.sleep(0.25)
        for ch in new:
            line = lines.get(ch.pid, "")
            if not line.startswith("READY"):
                raise RuntimeError(f"idle-hold: {line!r}")
            f = dict(kv.split("=") for kv in line.split()[1:])
            self.ok += int(f["ok"])
            self.failed += int(f["failed"])
        return True

    def close(self):
        for ch in self.children:
            try:
                ch.stdin.write("\n")
                ch.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        errs = []
        for ch in self.children:
            try:
                _, err = ch.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                ch.kill()
                _, err = ch.communicate()
            if err and err.strip():
                errs.append(err.strip().splitlines()[0])
        self.children = []
        return errs


def idle_memory(sut, conns):
    """Opens idling TLS sessions in steps (IDLE_STEPS, up to `conns`) from
    several processes and source addresses; records the server's memory
    (VmRSS, and PSS summed over its processes) at each step. Stops early,
    rather than endanger a shared machine, when the next step would (at the
    PSS per session measured so far) leave less than IDLE_RESERVE_MIB
    (default 6144) of MemAvailable, or when MemAvailable falls below it."""
    reserve = int(env("IDLE_RESERVE_MIB", "6144")) * 1024
    mem0 = sut.mem()
    h = Holders(sut)
    steps, prev, prev_mem = [], 0, mem0
    t0 = time.monotonic()
    stopped = None
    try:
        for target in idle_steps(conns):
            inc = target - prev
            if prev:
                per = max(prev_mem["pss_kib"] - mem0["pss_kib"], 0) / max(h.ok, 1)
                need = per * inc
                if need > mem_available_kib() - reserve:
                    stopped = (f"stopped before {target}: {inc} more sessions would need "
                               f"≈ {need / 1024:.0f} MiB; MemAvailable "
                               f"{mem_available_kib() / 1024:.0f} MiB, reserve "
                               f"{reserve / 1024:.0f} MiB (IDLE_RESERVE_MIB)")
                    break
            if not h.add(inc, reserve):
                stopped = f"stopped during {target}: MemAvailable fell below IDLE_RESERVE_MIB"
                break
            time.sleep(3)  # let the last sessions settle
            m = sut.mem()
            step = {"conns": h.ok, "failed": h.failed, "secs": round(time.monotonic() - t0, 1),
                    **m,
                    "rss_kib_per_conn": round((m["rss_kib"] - mem0["rss_kib"]) / max(h.ok, 1), 2),
                    "pss_kib_per_conn": round((m["pss_kib"] - mem0["pss_kib"]) / max(h.ok, 1), 2)}
            if steps:
                dn = max(h.ok - steps[-1]["conns"], 1)
                step["rss_kib_marginal"] = round((m["rss_kib"] - steps[-1]["rss_kib"]) / dn, 2)
                step["pss_kib_marginal"] = round((m["pss_kib"] - steps[-1]["pss_kib"]) / dn, 2)
            steps.append(step)
            print(f"    {h.ok:>6} idle TLS sessions ({h.failed} failed, {step['secs']} s): "
                  f"{m['procs']} process(es), RSS {m['rss_kib'] / 1024:.1f} MiB, "
                  f"PSS {m['pss_kib'] / 1024:.1f} MiB; per session RSS "
                  f"{step['rss_kib_per_conn']:.1f} KiB, PSS {step['pss_kib_per_conn']:.1f} KiB"
                  + (f"; marginal since last step RSS {step['rss_kib_marginal']:.1f} KiB, "
                     f"PSS {step['pss_kib_marginal']:.1f} KiB" if "rss_kib_marginal" in step else ""),
                  flush=True)
            prev, prev_mem = target, m
    finally:
        errs = h.close()
        for e in errs[:4]:
            print(f"    ! {e}", flush=True)
    if stopped:
        print(f"    {stopped}", flush=True)
    time.sleep(3)
    mem2 = sut.mem()
    print(f"    before: RSS {mem0['rss_kib'] / 1024:.1f} MiB; after closing all: "
          f"RSS {mem2['rss_kib'] / 1024:.1f} MiB ({mem2['procs']} process(es))", flush=True)
    last = steps[-1] if steps else {}
    return {"conns_asked": conns, "conns_ok": last.get("conns", 0),
            "conns_failed": last.get("failed", 0), "stopped": stopped,
            "before": mem0, "after_close": mem2, "steps": steps,
            "rss_kib_per_conn": last.get("rss_kib_per_conn"),
            "pss_kib_per_conn": last.get("pss_kib_per_conn")}


def part_idle():
    print(f"\n## idle: push latency ({LAT_ITER} iterations, Dovecot {DOVECOT_LAT_ITER}; "
          f"{'TLS' if TLS else 'plain'}) and "
          f"memory per idle TLS session", flush=True)
    accounts = users(IDLE_USERS)
    res = {}
    for sut in instances(accounts, max_conns=DOVECOT_IDLE_CONNS, every_auth=False):
        try:
            sut.start()
            print(f"  {sut.describe()}", flush=True)
            iters = LAT_ITER if sut.name == "pillarbox" else DOVECOT_LAT_ITER
            lat = tool(["idle-latency", *target_args(sut), "--user", accounts[0],
                        "--iterations", str(iters), "--label", sut.name],
                       timeout=iters * 2 + 600) if iters > 0 else {}
            conns = IDLE_CONNS if sut.name == "pillarbox" else DOVECOT_IDLE_CONNS
            mem = idle_memory(sut, conns)
            r = {"mode": "idle", "setup": sut.name, "system": sut.describe(), **lat, **mem,
                 "load_after": loadavg()}
            res[sut.name] = r
            record(r)
        finally:
            sut.stop()
    pb = res.get("pillarbox")
    dc = next((r for n, r in res.items() if n != "pillarbox"), None)
    if pb and dc and "push_p50_ms" in pb and "push_p50_ms" in dc:
        print(f"  push latency p50/p99 ms: Dovecot {dc['push_p50_ms']:.2f}/{dc['push_p99_ms']:.2f}, "
              f"Pillarbox {pb['push_p50_ms']:.2f}/{pb['push_p99_ms']:.2f}")
    if pb and dc and pb["pss_kib_per_conn"] and dc["pss_kib_per_conn"]:
        print(f"  PSS per idle TLS session: Dovecot {dc['pss_kib_per_conn']:.0f} KiB "
              f"({dc['conns_ok']} sessions), Pillarbox {pb['pss_kib_per_conn']:.1f} KiB "
              f"({pb['conns_ok']} sessions): "
              f"ratio Dovecot/Pillarbox {dc['pss_kib_per_conn'] / max(pb['pss_kib_per_conn'], 0.01):.2f}x",
              flush=True)


def main():
    global PB_BIN, TOOL
    PB_BIN = find_bin("pillarbox", "PILLARBOX_BIN")
    TOOL = find_bin("pillarbox-bench-imap", "BENCH_IMAP_BIN")
    reasons = []
    if "dovecot" in SETUPS:
        r = dovecot.available()
        if r:
            reasons.append(r)
        elif not os.path.exists("/usr/lib/dovecot/imap"):
            reasons.append("dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    if not PB_BIN:
        reasons.append("no pillarbox binary (cargo build --release --bin pillarbox)")
    if not TOOL:
        reasons.append("no load generator (cargo build --release -p pillarbox-bench-imap)")
    if reasons:
        sys.exit("imap-bench: " + "; ".join(reasons))
    print(f"# imap-bench {datetime.datetime.now().isoformat(timespec='seconds')} "
          f"PARTS={' '.join(PARTS)} SETUPS={' '.join(SETUPS)} nproc={os.cpu_count()}")
    print("# " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print("# busiest processes before: " + "; ".join(busiest()))
    print(f"# pillarbox: {PB_BIN} [{kind(PB_BIN)}]")
    print(f"# load generator: {TOOL} [{kind(TOOL)}]", flush=True)
    for part in PARTS:
        {"mix": part_mix, "big": part_big, "idle": part_idle}[part]()
    print("\n# after: " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print("# busiest processes now: " + "; ".join(busiest()))


def _terminate(signum, _frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
