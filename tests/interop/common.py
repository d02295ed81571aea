"""Shared helpers for the interop suite: start the real pillarbox binary on
private loopback ports with a temporary data directory, manage accounts with
the real CLI, and wait for conditions without sleeping blindly."""

import collections
import email
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PILLARBOX_BIN", os.path.join(ROOT, "target", "debug", "pillarbox"))

def _free_ports(names):
    """Distinct free loopback ports, chosen once per test process so parallel
    runs (and other people's servers) do not collide."""
    socks, ports = [], {}
    for n in names:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports[n] = s.getsockname()[1]
    for s in socks:
        s.close()
    return ports


PORTS = _free_ports(["smtp", "lmtp", "pop3", "pop3s", "imap", "imaps",
                    "submission", "submissions"])

CONFIG = """
hostname = "mail.example.org"
log = "info"
[pop3]
allow_plaintext_auth = {plain}
auth_failure_delay_ms = 0
[imap]
allow_plaintext_auth = {plain}
auth_failure_delay_ms = 0
[smtp]
submission_auth_failure_delay_ms = 0
[delivery]
# No DNS on the CI machines: SPF/DKIM/DMARC are tested in-process against a
# local test DNS server instead (crates/delivery/tests/authentication.rs).
verify_inbound = false
{smarthost}[[listener]]
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
tls = "starttls"
[[listener]]
protocol = "pop3"
address = "127.0.0.1:{pop3s}"
tls = "implicit"
[[listener]]
protocol = "imap"
address = "127.0.0.1:{imap}"
tls = "starttls"
[[listener]]
protocol = "imap"
address = "127.0.0.1:{imaps}"
tls = "implicit"
[[listener]]
protocol = "submission"
address = "127.0.0.1:{submission}"
tls = "starttls"
[[listener]]
protocol = "submission"
address = "127.0.0.1:{submissions}"
tls = "implicit"
"""


# The outbound queue sends everything to a closed local port: queued mail
# stays queued (there is no Internet here). Tests of MX delivery through a
# test DNS server leave it out (Pillarbox(smarthost=False)).
SMARTHOST = """# Everything outbound goes to a closed local port (common.SMARTHOST).
[[queue.route]]
domain = "*"
host = "127.0.0.1"
port = 9
"""


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def wait_for(cond, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Pillarbox:
    """The real binary, on its own data directory and ports."""

    def __init__(self, plaintext_auth=True, data=None, extra_config="", smarthost=True):
        """`extra_config`: TOML appended to the configuration, e.g. a
        `[[queue.route]]` to a local sink (a route for a domain wins over
        the `*` route above). `smarthost=False` leaves out that `*` route:
        outbound mail then goes through MX lookup (give `[dns]
        nameservers` a test DNS server in `extra_config`)."""
        self.tmp = tempfile.TemporaryDirectory(prefix="pillarbox-interop-")
        self.data = data or os.path.join(self.tmp.name, "data")
        self.config = os.path.join(self.tmp.name, "pillarbox.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(plain="true" if plaintext_auth else "false",
                                  smarthost=SMARTHOST if smarthost else "", **PORTS))
            f.write(extra_config)
        self.proc = None
        self.log = os.path.join(self.tmp.name, "server.log")

    def cli(self, *args, stdin=None, check=True):
        r = subprocess.run(
            [BIN, "--data", self.data, "--config", self.config, *args],
            input=stdin, capture_output=True, text=True, timeout=120,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"pillarbox {' '.join(args)} failed: {r.stderr}")
        return r

    def start(self):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [BIN, "--data", self.data, "--config", self.config, "serve"],
            stdout=logf, stderr=logf,
        )
        for p in PORTS.values():
            wait_port(p)
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def add_user(self, address, password):
        domain = address.split("@")[1]
        self.cli("domain", "add", domain, check=False)
        self.cli("user", "add", address, stdin=password + "\n")

    def server_log(self):
        with open(self.log) as f:
            return f.read()


class SmtpLoad:
    """`senders` threads delivering to `rcpt` over SMTP (port `smtp`) in a
    loop, each message with a unique Message-ID `<{tag}-N-I@remote.test>`;
    `acked()` lists the IDs that got `250`. A sender stops at its first
    connection error (e.g. the server was killed)."""

    def __init__(self, tag, senders, rcpt="alice@example.org", lines=50, timeout=10):
        self.tag, self.rcpt, self.lines, self.timeout = tag, rcpt, lines, timeout
        self._acked = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,)) for n in range(senders)]

    def _send(self, n):
        i = 0
        while not self._stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=self.timeout) as s:
                    while not self._stop.is_set():
                        mid = f"<{self.tag}-{n}-{i}@remote.test>"
                        msg = (
                            f"From: bob@remote.test\r\nTo: {self.rcpt}\r\n"
                            f"Subject: {self.tag} {n} {i}\r\nMessage-ID: {mid}\r\n\r\n"
                            + ("x" * 70 + "\r\n") * self.lines
                        )
                        s.sendmail("bob@remote.test", [self.rcpt], msg)
                        with self._lock:
                            self._acked.append(mid)
                        i += 1
            except (OSError, smtplib.SMTPException):
                return

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def wait_acked(self, count, timeout):
        """Waits until `count` messages got 250 (or `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.acked()) < count:
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def acked(self):
        with self._lock:
            return list(self._acked)


def message_ids_in_inbox(login, password):
    """Counter of the Message-IDs in `login`'s INBOX, read over POP3+STLS."""
    p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=60)
    p.stls(context=insecure_context())
    p.user(login)
    p.pass_(password)
    seen = collections.Counter()
    for i in range(1, p.stat()[0] + 1):
        raw = b"\r\n".join(p.top(i, 0)[1])
        seen[email.message_from_bytes(raw)["Message-ID"]] += 1
    p.quit()
    return seen
