"""Crash safety: several concurrent SMTP sessions deliver while the server is
killed with SIGKILL; after a restart every message that got 250 is present
exactly once and `pillarbox check` passes."""

import unittest

from common import Pillarbox, SmtpLoad, message_ids_in_inbox

PW = "crash-test-password"
SENDERS = 8


class CrashTests(unittest.TestCase):
    def test_kill9_mid_stream_loses_nothing_acknowledged(self):
        pb = Pillarbox(plaintext_auth=False).start()
        try:
            pb.add_user("alice@example.org", PW)
            load = SmtpLoad("crash", SENDERS).start()
            load.wait_acked(200, timeout=30)
            pb.kill9()
            load.stop()
            acknowledged = load.acked()
            self.assertGreater(len(acknowledged), 0, "nothing was delivered before the kill")

            pb.start()
            seen = message_ids_in_inbox("alice@example.org", PW)
            missing = [m for m in acknowledged if seen[m] == 0]
            dups = [m for m, c in seen.items() if c > 1]
            self.assertEqual(missing, [], f"{len(missing)} acknowledged messages lost")
            self.assertEqual(dups, [], "duplicated messages")
            r = pb.cli("check", check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            print(f"\ncrash test: {len(acknowledged)} acknowledged, {sum(seen.values())} stored")
        finally:
            pb.stop()


if __name__ == "__main__":
    unittest.main()
