"""Outbound queue with the real binary and a local sink MX (smtp_sink.py),
reached through a `[[queue.route]]` for `sink.example`:

- crash safety: N messages are submitted while the sink refuses (451),
  then the sink accepts and the server is killed with SIGKILL while the
  queue delivers; after a restart the queue drains and every recipient has
  every message at least once. The duplicate count is measured and printed
  (the at-least-once window, ARCHITECTURE.md "Data flow: outbound mail").
  The same with SIGTERM (a clean stop) sends nothing twice;
- retries and bounces: 451 then 250 is retried and delivered, 550 bounces
  into the sender's INBOX (read over POP3), RFC 3461 parameters given to
  smtplib are honoured (a `relayed` notice from a sink without DSN, the
  parameters passed on to a sink with DSN);
- `pillarbox queue stats` read while the server runs.

    python3 tests/interop/test_queue.py -v
"""

import email
import os
import poplib
import re
import smtplib
import time
import unittest

from common import PORTS, Pillarbox, insecure_context, wait_for
from smtp_sink import Sink

PW = "queue-test-password"
ALICE = "alice@example.org"
MESSAGES = 120
RECIPIENTS = ["a@sink.example", "b@sink.example"]
CONCURRENCY = 8


def queue_config(port):
    return f"""
[queue]
retry_initial_secs = 1
retry_max_secs = 1
poll_interval_secs = 1
timeout_secs = 10
concurrency = {CONCURRENCY}
[[queue.route]]
domain = "sink.example"
host = "127.0.0.1"
port = {port}
"""


def stats(pb):
    """`pillarbox queue stats` as a dict of its numbers."""
    out = pb.cli("queue", "stats").stdout
    found = {}
    for key in ("messages queued", "recipients pending", "delivered", "deferred", "bounced"):
        m = re.search(rf"{key}:\s+(\d+)", out)
        if m:
            found[key] = int(m.group(1))
    return found, out


def connect():
    """An authenticated submission session over STARTTLS."""
    s = smtplib.SMTP("127.0.0.1", PORTS["submission"], timeout=30)
    s.ehlo("client.example.net")
    s.starttls(context=insecure_context())
    s.ehlo("client.example.net")
    s.login(ALICE, PW)
    return s


def submit(subject, to, mid=None, mail_options=(), rcpt_options=()):
    s = connect()
    try:
        mid_header = f"Message-ID: {mid}\r\n" if mid else ""
        msg = (f"From: {ALICE}\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n"
               f"{mid_header}\r\nqueue interop body\r\n")
        s.sendmail(ALICE, to, msg, mail_options=list(mail_options),
                   rcpt_options=list(rcpt_options))
    finally:
        s.quit()


def alice_inbox():
    p = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=30)
    try:
        p.user(ALICE)
        p.pass_(PW)
        return [email.message_from_bytes(b"\r\n".join(p.retr(i)[1]))
                for i in range(1, p.stat()[0] + 1)]
    finally:
        p.quit()


def delivery_status(msg):
    """The message/delivery-status part of a DSN, as text."""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return "\n".join(str(p) for p in part.get_payload())
    return ""


class QueueTests(unittest.TestCase):
    def interrupted_delivery(self, how):
        """Queues MESSAGES x RECIPIENTS for a sink that is down, lets the
        sink accept, interrupts the server (`how`: "kill9" or "sigterm")
        once a third is delivered, restarts it and waits for the queue to
        drain. Returns (deliveries before the interruption, duplicates)."""
        sink = Sink(delay=float(os.environ.get("SINK_DELAY", "0.02")))
        pb = Pillarbox(extra_config=queue_config(sink.port)).start()
        try:
            pb.add_user(ALICE, PW)
            # The sink is "down": everything stays queued, deferred.
            sink.tempfail = True
            s = connect()
            mids = []
            for i in range(MESSAGES):
                mid = f"<queue-{how}-{i}@example.org>"
                s.sendmail(ALICE, RECIPIENTS,
                           f"From: {ALICE}\r\nTo: a@sink.example\r\nSubject: crash {i}\r\n"
                           f"Message-ID: {mid}\r\n\r\n" + ("y" * 70 + "\r\n") * 20)
                mids.append(mid)
            s.quit()
            found, out = stats(pb)
            self.assertEqual(found["messages queued"], MESSAGES, out)
            wait_for(lambda: stats(pb)[0].get("deferred", 0) > 0, what="a deferral counted")

            # The sink comes back; interrupt once part of the queue is out.
            sink.tempfail = False
            expected = MESSAGES * len(RECIPIENTS)
            wait_for(lambda: sink.total() >= expected // 3, timeout=60,
                     what="deliveries before the interruption")
            if how == "kill9":
                pb.kill9()
            else:
                pb.stop()
            before = sink.total()
            self.assertLess(before, expected, "interrupted too late to test anything")

            pb.start()
            def drained():
                with sink.lock:
                    complete = all(sink.received[(m, r)] >= 1 for m in mids for r in RECIPIENTS)
                return complete and stats(pb)[0].get("messages queued") == 0
            wait_for(drained, timeout=120, what="the queue to drain after the restart")
            with sink.lock:
                counts = dict(sink.received)
            lost = [(m, r) for m in mids for r in RECIPIENTS if counts.get((m, r), 0) == 0]
            dups = sum(c - 1 for c in counts.values() if c > 1)
            self.assertEqual(lost, [], "deliveries lost")
            found, out = stats(pb)
            self.assertEqual(found["recipients pending"], 0, out)
            print(f"\nqueue {how} test: {expected} deliveries ({MESSAGES} messages x "
                  f"{len(RECIPIENTS)} recipients, concurrency {CONCURRENCY}), {before} "
                  f"before the {how}, {sum(counts.values())} received in all, {dups} "
                  f"duplicate(s) ({100.0 * dups / expected:.1f}%), 0 lost")
            r = pb.cli("check", check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return before, dups
        finally:
            pb.stop()
            sink.close()

    def test_kill9_while_delivering_loses_nothing(self):
        _, dups = self.interrupted_delivery("kill9")
        # Only transactions under way at the kill can repeat: at most
        # `concurrency` messages, each to its recipients.
        self.assertLessEqual(dups, CONCURRENCY * len(RECIPIENTS))

    def test_clean_stop_while_delivering_sends_nothing_twice(self):
        _, dups = self.interrupted_delivery("sigterm")
        self.assertEqual(dups, 0, "a clean stop lets attempts under way finish")

    def test_retry_bounce_and_dsn_parameters(self):
        sink = Sink()
        pb = Pillarbox(extra_config=queue_config(sink.port)).start()
        try:
            pb.add_user(ALICE, PW)
            # 451 then 250: retried and delivered; 550: bounced to the
            # sender's INBOX with RET=FULL (the whole message returned).
            submit("retry and bounce", ["temp@sink.example", "reject@sink.example"],
                   mid="<retry-bounce@example.org>",
                   mail_options=["RET=FULL", "ENVID=env+2B1"])
            wait_for(lambda: sink.received[("<retry-bounce@example.org>", "temp@sink.example")] == 1,
                     timeout=30, what="the retried delivery")
            wait_for(lambda: len(alice_inbox()) == 1, timeout=30, what="the bounce")
            bounce = alice_inbox()[0]
            self.assertEqual(bounce.get_content_type(), "multipart/report")
            status = delivery_status(bounce)
            self.assertIn("Final-Recipient: rfc822; reject@sink.example", status)
            self.assertIn("Action: failed", status)
            self.assertIn("Status: 5.1.1", status)
            self.assertIn("Original-Envelope-Id: env+1", status)
            self.assertNotIn("temp@sink.example", status)
            self.assertIn("queue interop body", bounce.as_string(), "RET=FULL")

            # NOTIFY=SUCCESS through a server without DSN: "relayed".
            submit("relayed", ["ok@sink.example"], mid="<relayed@example.org>",
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;ok@sink.example"])
            wait_for(lambda: len(alice_inbox()) == 2, timeout=30, what="the relayed notice")
            status = delivery_status(alice_inbox()[1])
            self.assertIn("Action: relayed", status)
            self.assertIn("Original-Recipient: rfc822;ok@sink.example", status)

            # A server offering DSN gets the parameters and no notice is sent.
            # Capabilities are per connection: the sink hangs up the cached
            # one (without DSN), and the queue must notice and connect anew
            # without losing or doubling the message.
            sink.dsn = True
            sink.hang_up()
            submit("passed on", ["ok2@sink.example"], mid="<passed@example.org>",
                   mail_options=["RET=HDRS", "ENVID=e2"],
                   rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;ok2@sink.example"])
            wait_for(lambda: sink.received[("<passed@example.org>", "ok2@sink.example")] == 1,
                     timeout=30, what="the DSN-capable delivery")
            with sink.lock:
                commands = list(sink.commands)
            self.assertIn(f"MAIL FROM:<{ALICE}> RET=HDRS ENVID=e2", commands)
            self.assertIn("RCPT TO:<ok2@sink.example> NOTIFY=SUCCESS "
                          "ORCPT=rfc822;ok2@sink.example", commands)
            wait_for(lambda: stats(pb)[0].get("messages queued") == 0, what="an empty queue")
            self.assertEqual(len(alice_inbox()), 2, "no notice for the DSN server")

            found, out = stats(pb)
            self.assertEqual(found["delivered"], 3, out)  # temp, ok, ok2
            self.assertEqual(found["bounced"], 1, out)
            self.assertGreaterEqual(found["deferred"], 1, out)
            print(f"\n{out}")
        finally:
            pb.stop()
            sink.close()


if __name__ == "__main__":
    unittest.main()
