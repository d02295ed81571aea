#!/usr/bin/env python3
"""Writes the seed corpora into seeds/<target>/ from the transcript tests
(the C: lines of each file, joined with CRLF), the MIME test corpus and
the example configuration. Run from fuzz/: python3 seeds.py"""
import base64, glob, os, re

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)


def client_bytes(path):
    """C: lines of a transcript (any connection), CRLF-terminated."""
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^C\d+:(?: (.*))?$", line.rstrip("\r\n"))
        if m:
            out.append((m.group(1) or "").encode() + b"\r\n")
    return b"".join(out)


def write(target, name, data):
    d = os.path.join(ROOT, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


tdir = os.path.join(REPO, "crates", "testkit", "transcripts")
for proto, prefixes in [
    ("imap", {"imap_command": [b"\x02\x00", b"\x13\x01", b"\x01\x02"],
              # [state, split]: as written (they log in themselves), and
              # selected (their LOGIN then fails, the rest runs on INBOX).
              "imap_session": [b"\x00\x00", b"\x10\x01", b"\x02\x02"]}),
    ("pop3", {"pop3_command": [b"\x00", b"\x01"],
              "pop3_session": [b"\x00\x00", b"\x10\x01", b"\x01\x02"]}),
    ("smtp", {"smtp_session": [b"\x00\x00", b"\x00\x01"]}),
    ("lmtp", {"smtp_session": [b"\x01\x00"]}),
    ("submission", {"smtp_session": [b"\x02\x00", b"\x12\x03"]}),
    ("net", {"smtp_session": [b"\x00\x02"]}),
]:
    for path in sorted(glob.glob(os.path.join(tdir, proto, "*.txt"))):
        data = client_bytes(path)
        if not data:
            continue
        base = os.path.splitext(os.path.basename(path))[0]
        for target, pres in prefixes.items():
            for i, pre in enumerate(pres):
                write(target, f"{proto}-{base}-{i}", pre + data)

for path in sorted(glob.glob(os.path.join(REPO, "crates", "message", "tests", "corpus", "*.eml"))):
    write("mime", os.path.basename(path), open(path, "rb").read())

write("config", "example.toml", open(os.path.join(REPO, "crates", "pillarbox", "config.example.toml"), "rb").read())
write("config", "minimal.toml", b'hostname = "mail.example.org"\n[[listener]]\nprotocol = "imap"\naddress = "127.0.0.1:143"\ntls = "starttls"\n')

SEP = b"\xff\xfe"
write("sasl", "plain-ir", b"\x10" + b"\x00user\x00pencil")
write("sasl", "plain", b"\x00" + b"user\x00user\x00pencil")
write("sasl", "login", b"\x01" + b"user" + SEP + b"pencil")
write("sasl", "scram", b"\x12" + b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO" + SEP
      + b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" + SEP + b"")
write("sasl", "scram-authzid", b"\x02" + b"n,a=user,n=user,r=abc" + SEP + b"c=biws,r=abc,p=AAAA")
write("sasl", "scram-cb", b"\x12" + b"p=tls-unique,,n=user,r=abc")
