"""A small authoritative DNS server for the interop suite and benchmarks,
on 127.0.0.1 (UDP and TCP, one free port), serving test zones from
zone-file lines. Built on Debian's python3-dnslib (wire format and the
socket servers); the answering logic here follows RFC 1034 §4.3.2 for
names inside the served zones:

- the name has records of the asked type: NOERROR with them (AA set);
- the name exists (has records of another type, or names below it do):
  NOERROR with no answer and the zone's SOA in the authority section
  ("NODATA", RFC 2308 §2.2) -- what a resolver needs to tell "no MX, use
  the A record" (RFC 5321 §5.1 implicit MX) from "no such domain";
- otherwise NXDOMAIN with the SOA (RFC 2308 §2.1).

Names outside every served zone get REFUSED (we are not a recursive
resolver). Every query is recorded in `queries` as (name, type).

    with TestDns({"remote.test": ["remote.test. 60 IN MX 10 mx.remote.test.",
                                   "mx.remote.test. 60 IN A 127.0.0.2"]}) as dns:
        print(dns.port)   # [dns] nameservers = ["127.0.0.1:PORT"]
"""

import socket
import threading

from dnslib import QTYPE, RCODE, RR, TXT, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def txt_record(name, value, ttl=60):
    """A TXT record for a long value, split into 255-byte strings (RFC 1035
    §3.3.14; RFC 6376 §3.6.2.2 joins them again)."""
    data = value.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return RR(name, QTYPE.TXT, ttl=ttl, rdata=TXT(chunks))


class _ZoneResolver(BaseResolver):
    def __init__(self, server):
        self.server = server

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        qname = DNSLabel(str(q.qname).lower())
        with self.server.lock:
            self.server.queries.append((str(qname).rstrip("."), QTYPE[q.qtype]))
            zone = self.server.zone_of(qname)
            if zone is None:
                reply.header.rcode = RCODE.REFUSED
                return reply
            reply.header.aa = 1
            records = [rr for rr in self.server.records if rr.rname == qname]
            answers = [rr for rr in records if rr.rtype == q.qtype or q.qtype == QTYPE.ANY]
            if not answers:
                answers = [rr for rr in records if rr.rtype == QTYPE.CNAME]
            if answers:
                for rr in answers:
                    reply.add_answer(rr)
                return reply
            exists = records or any(rr.rname.matchSuffix(qname) for rr in self.server.records)
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            for rr in self.server.records:
                if rr.rtype == QTYPE.SOA and rr.rname == zone:
                    reply.add_auth(rr)
            return reply


class _QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data")


def _free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no port free for both UDP and TCP")


class TestDns:
    """zones: {zone apex: [zone-file lines or dnslib RR objects]}. Each zone
    gets an SOA unless one is given."""

    def __init__(self, zones):
        self.lock = threading.Lock()
        self.queries = []
        self.records = []
        self.zones = []
        for apex, lines in zones.items():
            apex_label = DNSLabel(apex.lower().rstrip(".") + ".")
            self.zones.append(apex_label)
            rrs = []
            for line in lines:
                rrs.extend(RR.fromZone(line) if isinstance(line, str) else [line])
            if not any(rr.rtype == QTYPE.SOA for rr in rrs):
                rrs += RR.fromZone(f"{apex_label} 60 IN SOA ns.{apex_label} "
                                   f"hostmaster.{apex_label} 1 3600 600 86400 60")
            self.records.extend(rrs)
        for rr in self.records:
            rr.rname = DNSLabel(str(rr.rname).lower())
        self.port = None
        self.servers = []

    def zone_of(self, qname):
        best = None
        for z in self.zones:
            if qname.matchSuffix(z) and (best is None or len(z.label) > len(best.label)):
                best = z
        return best

    def add(self, line):
        """Adds records (a zone-file line or an RR) while running."""
        rrs = RR.fromZone(line) if isinstance(line, str) else [line]
        with self.lock:
            for rr in rrs:
                rr.rname = DNSLabel(str(rr.rname).lower())
                self.records.append(rr)

    def start(self):
        resolver = _ZoneResolver(self)
        for attempt in range(5):
            port = _free_udp_tcp_port()
            try:
                udp = DNSServer(resolver, address="127.0.0.1", port=port, logger=_QuietLogger())
                tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True,
                                logger=_QuietLogger())
            except OSError:
                if attempt == 4:
                    raise
                continue
            self.servers = [udp, tcp]
            self.port = port
            break
        for s in self.servers:
            s.start_thread()
        return self

    def stop(self):
        for s in self.servers:
            s.stop()
            s.server.server_close()
        self.servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    # Smoke test: python3 tests/interop/dns_server.py, then e.g.
    # dig @127.0.0.1 -p PORT remote.test MX
    import time
    zones = {"remote.test": ["remote.test. 60 IN MX 10 mx.remote.test.",
                             "mx.remote.test. 60 IN A 127.0.0.2"],
             "null.test": ["null.test. 60 IN MX 0 ."]}
    with TestDns(zones) as dns:
        print("serving on 127.0.0.1 port", dns.port, flush=True)
        time.sleep(30)
