"""A local SMTP sink for the outbound-queue interop tests: a threaded
server on 127.0.0.1 that plays a remote MX, counts what it receives per
(Message-ID, recipient) and can answer 4xx or 5xx on demand.

Replies, by recipient local part:
- `temp...`   451 4.3.0 the first time that address is seen, then 250;
- `reject...` 550 5.1.1;
- anything else 250.
`sink.tempfail = True` answers 451 to every MAIL FROM (a server that is
down for a while). A message is counted once its final 250 is sent."""

import collections
import socket
import socketserver
import threading
import time


class Sink:
    def __init__(self, delay=0.0, dsn=False):
        self.delay = delay
        self.dsn = dsn
        self.tempfail = False
        self.lock = threading.Lock()
        self.received = collections.Counter()  # (message-id, rcpt) -> count
        self.commands = []  # MAIL/RCPT lines as received
        self.messages = []  # (rcpts, data) per accepted message
        self.seen = set()
        self.open = set()  # sockets of the sessions under way
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with sink.lock:
                    sink.open.add(self.connection)
                try:
                    sink._session(self.rfile, self.wfile)
                except (OSError, ValueError):
                    pass  # the client went away (e.g. killed)
                finally:
                    with sink.lock:
                        sink.open.discard(self.connection)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def hang_up(self):
        """Closes every open session, as a server's idle timeout would
        (a client's cached connections go dead)."""
        with self.lock:
            conns = list(self.open)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def total(self):
        with self.lock:
            return sum(self.received.values())

    def _reply_rcpt(self, rcpt):
        local = rcpt.split("@")[0].lower()
        if local.startswith("reject"):
            return b"550 5.1.1 no such user here\r\n"
        if local.startswith("temp"):
            with self.lock:
                first = rcpt not in self.seen
                self.seen.add(rcpt)
            if first:
                return b"451 4.3.0 try again later\r\n"
        return None

    def _session(self, rfile, wfile):
        wfile.write(b"220 sink.test ESMTP\r\n")
        rcpts = []
        while True:
            line = rfile.readline(4096)
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            upper = text.upper()
            if upper.startswith(("MAIL", "RCPT")):
                with self.lock:
                    self.commands.append(text)
            if upper.startswith(("EHLO", "HELO")):
                ext = b"250-DSN\r\n" if self.dsn else b""
                wfile.write(b"250-sink.test\r\n" + ext + b"250 8BITMIME\r\n")
            elif upper.startswith("MAIL FROM:"):
                rcpts = []
                if self.tempfail:
                    wfile.write(b"451 4.3.2 not now\r\n")
                else:
                    wfile.write(b"250 2.1.0 ok\r\n")
            elif upper.startswith("RCPT TO:"):
                rcpt = text[8:].split()[0].strip("<>")
                refusal = self._reply_rcpt(rcpt)
                if refusal:
                    wfile.write(refusal)
                else:
                    rcpts.append(rcpt)
                    wfile.write(b"250 2.1.5 ok\r\n")
            elif upper == "DATA":
                wfile.write(b"354 go ahead\r\n")
                data = []
                while True:
                    l = rfile.readline(1 << 20)
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    data.append(l[1:] if l.startswith(b".") else l)
                raw = b"".join(data).decode("utf-8", "replace")
                mid = ""
                for h in raw.split("\r\n"):
                    if h == "":
                        break
                    if h.lower().startswith("message-id:"):
                        mid = h.split(":", 1)[1].strip()
                if self.delay:
                    time.sleep(self.delay)
                wfile.write(b"250 2.0.0 accepted\r\n")
                wfile.flush()
                with self.lock:
                    for r in rcpts:
                        self.received[(mid, r.lower())] += 1
                    self.messages.append((list(rcpts), raw))
                rcpts = []
            elif upper == "QUIT":
                wfile.write(b"221 bye\r\n")
                return
            else:
                wfile.write(b"250 ok\r\n")
            wfile.flush()
