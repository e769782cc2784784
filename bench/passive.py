"""How fast and how big is `estatemap import capture.pcap`? A generated pcap of mixed traffic per size (default
0.5 and 2 GB) is read by the import engine (scanners.passive_capture.CaptureReader, without the store) and, for
the floor, by the same library's bare read loop; goal (issue 17): the import at >= 0.5x the floor's packets per
second, and its memory independent of the file's size.

The traffic comes from a fixed population, reused however large the file, so that memory can only grow with
packets, never with hosts or flows: 2,000 hosts (10.60.0.1-10.60.7.250, one MAC each), 200 of them servers
with two services each (HTTP/80, TLS/443, DICOM/104, HL7 MLLP/2575, PostgreSQL/5432, SSH/22, DNS udp/53, NTP
udp/123) and 50,000 flows client -> service, visited round robin in a shuffled order (every flow is seen once
the file holds ~50,000 sessions, about 0.2 GB). A TCP session is a handshake, the client's first payload (an
HTTP request with Host and User-Agent, a TLS ClientHello with SNI, a DICOM A-ASSOCIATE-RQ, an HL7 MSH...), the
server's answer (HTTP head, ServerHello, A-ASSOCIATE-AC, HL7 ACK) and 0-4 full segments of data (P-DATA,
TLS application data, body), ACKs and FINs; a UDP session a request and its answer. Every 64th session adds an
ARP request and reply; every 100th a SYN nobody answers (from a fixed set of 500 client ports). Frames are
built with struct by fuzz/targets.py's functions, the fuzz seeds' (IPv4 header checksums computed; TCP checksums
left zero: neither dpkt nor the import checks them), and written one by one with dpkt.pcap.Writer, so the
generator holds no file in memory.

Each measurement runs in a fresh child process (its peak resident set, ru_maxrss, is its own) on a file just
written, so it is read from the page cache on both sides:
- floor, iterate: `for ts, buf in dpkt.pcap.Reader(f)` and nothing else;
- floor, decode: the same loop with dpkt.ethernet.Ethernet(buf) per frame: dpkt decodes the whole stack on
  unpack (Ethernet, IP, TCP/UDP/ARP), which is all the library does for any reader of these frames;
- import: CaptureReader().read(path) and then its reports() (the records a scan would store): packets/s,
  the child's resident set before reading and its peak;
- the CLI, for the smallest size only: `main.py --db TEMP -q import FILE`, wall time and peak (VmHWM).
--profile adds cProfile's top functions of CaptureReader.read over the smallest file. Run:
    .venv/bin/python bench/passive.py          # 0.5 and 2 GB: 2 GB of disk at most (each file is removed once
                                               # measured), ~8 min on 2 CPUs
    .venv/bin/python bench/passive.py --sizes 0.05,0.2 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import targets  # noqa: E402

CHILD_TIMEOUT = 1800         # seconds one measurement may take, whatever happens
HOSTS = 2_000
SERVERS = 200
FLOWS = 50_000
T0 = 1_796_000_000.0
TICK = 0.0002                # seconds between packets
MSS = 1448

# --- the population ---------------------------------------------------------------------------------------

# (name, protocol, port)
SERVICES = (("http", "tcp", 80), ("tls", "tcp", 443), ("dicom", "tcp", 104), ("hl7", "tcp", 2575),
            ("postgres", "tcp", 5432), ("ssh", "tcp", 22), ("dns", "udp", 53), ("ntp", "udp", 123))


def host_address(n: int) -> bytes:
    return bytes((10, 60, n // 250, n % 250 + 1))


def host_mac(n: int) -> bytes:
    return b"\x02\x00\x0a\x3c" + n.to_bytes(2, "big")


def build_flows(seed: int) -> list[tuple[int, int, int]]:
    """The FLOWS distinct (client host, server host, service index) in the order sessions visit them."""
    rng = random.Random(seed)
    server_services = [(server, (server + k) % len(SERVICES)) for server in range(SERVERS) for k in (0, 3)]
    clients = HOSTS - SERVERS
    picked = rng.sample(range(clients * len(server_services)), FLOWS)
    flows = [(SERVERS + p % clients, *server_services[p // clients]) for p in picked]
    rng.shuffle(flows)
    return flows


# --- frames (built by fuzz/targets.py's functions, shared with the fuzz seeds) -----------------------------

SYN, ACK, PSH, FIN = targets.TH_SYN, targets.TH_ACK, targets.TH_PSH, targets.TH_FIN
dicom_associate, tls_client_hello, tls_server_hello = (targets.dicom_associate_pdu, targets.tls_client_hello,
                                                       targets.tls_server_hello)


def tcp_frame(source: int, target: int, sport: int, dport: int, flags: int, seq: int, ack: int, payload: bytes,
              ident: int) -> bytes:
    return targets.tcp_frame(host_mac(source), host_mac(target), host_address(source), host_address(target), sport,
                             dport, flags, payload, seq, ack, ident)


def udp_frame(source: int, target: int, sport: int, dport: int, payload: bytes, ident: int) -> bytes:
    return targets.udp_frame(host_mac(source), host_mac(target), host_address(source), host_address(target), sport,
                             dport, payload, ident)


def arp_frame(source: int, target: int, reply: bool) -> bytes:
    return targets.arp_frame(host_mac(source), host_address(source), host_mac(target), host_address(target), reply)


# --- application payloads (first bytes of each side; the rest is filler) ----------------------------------

FILLER = random.Random(0).randbytes(1 << 16)


def _filler(at: int, size: int) -> bytes:
    at %= len(FILLER) - size
    return FILLER[at:at + size]


def first_payloads(service: str, client: int, server: int, session: int) -> tuple[bytes, bytes]:
    """The client's first payload and the server's answer for one session of `service`."""
    if service == "http":
        return (f"GET /app/{session % 977}/index.html HTTP/1.1\r\nHost: srv{server}.estate.example\r\n"
                f"User-Agent: curl/7.{session % 90}.0\r\nAccept: */*\r\n\r\n").encode(), (
                b"HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nContent-Type: text/html\r\nContent-Length: 4096\r\n\r\n"
                + _filler(session, 600))
    if service == "tls":
        return tls_client_hello(f"srv{server}.estate.example"), tls_server_hello() + _filler(session, 900)
    if service == "dicom":
        return (dicom_associate(True, f"PACS{server}", f"MOD{client}"),
                dicom_associate(False, f"PACS{server}", f"MOD{client}"))
    if service == "hl7":
        return (f"\x0bMSH|^~\\&|LAB{client}|HOSP|EHR{server}|HOSP|20261101090000||ORU^R01|{session}|P|2.5\r"
                f"PID|1||{session:08d}||TEST^PATIENT\rOBX|1|NM|GLU||{session % 200}|mg/dL\r\x1c\r").encode(), (
                f"\x0bMSH|^~\\&|EHR{server}|HOSP|LAB{client}|HOSP|20261101090001||ACK|{session}|P|2.5\r"
                f"MSA|AA|{session}\r\x1c\r").encode()
    if service == "ssh":
        return b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n", b"SSH-2.0-OpenSSH_7.4\r\n" + _filler(session, 300)
    return b"Q\x00\x00\x00\x1dselect * from orders;\x00", b"T" + _filler(session, 200)   # postgres


DATA_KIND = {"dicom": b"\x04\x00", "tls": b"\x17\x03\x03"}   # what the data segments start with


def write_capture(path: Path, size: int, seed: int = 0) -> dict:
    """Write a pcap of at least `size` bytes at `path`, packet by packet; return packets, sessions and bytes."""
    import dpkt

    flows = build_flows(seed)
    rng = random.Random(seed + 1)
    packets = sessions = 0
    when = T0
    ident = 0
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=65535)

        def put(frame: bytes) -> None:
            nonlocal packets, when
            writer.writepkt_time(frame, when)
            packets += 1
            when += TICK

        while f.tell() < size:
            client, server, service_index = flows[sessions % FLOWS]
            name, protocol, port = SERVICES[service_index]
            client_port = 32768 + (sessions * 7 + client) % 28000
            ident += 16
            if protocol == "udp":
                query = (sessions & 0xFFFF).to_bytes(2, "big") + _filler(sessions, 30 + sessions % 40)
                put(udp_frame(client, server, client_port, port, query, ident))
                put(udp_frame(server, client, port, client_port, query[:2] + _filler(sessions, 60 + sessions % 200),
                              ident + 1))
            else:
                c, s = rng.getrandbits(32), rng.getrandbits(32)
                request, answer = first_payloads(name, client, server, sessions)
                put(tcp_frame(client, server, client_port, port, SYN, c, 0, b"", ident))
                put(tcp_frame(server, client, port, client_port, SYN | ACK, s, c + 1, b"", ident + 1))
                put(tcp_frame(client, server, client_port, port, ACK, c + 1, s + 1, b"", ident + 2))
                put(tcp_frame(client, server, client_port, port, PSH | ACK, c + 1, s + 1, request, ident + 3))
                put(tcp_frame(server, client, port, client_port, PSH | ACK, s + 1, c + 1 + len(request), answer,
                              ident + 4))
                c, s = c + 1 + len(request), s + 1 + len(answer)
                sender_is_client = name in ("dicom", "hl7")   # modality and lab send; servers answer
                for k in range(rng.randrange(5)):
                    data = DATA_KIND.get(name, b"") + _filler(sessions + k, MSS - 3)
                    if sender_is_client:
                        put(tcp_frame(client, server, client_port, port, ACK, c, s, data, ident + 5 + k))
                        c += len(data)
                    else:
                        put(tcp_frame(server, client, port, client_port, ACK, s, c, data, ident + 5 + k))
                        s += len(data)
                put(tcp_frame(client, server, client_port, port, FIN | ACK, c, s, b"", ident + 10))
                put(tcp_frame(server, client, port, client_port, FIN | ACK, s, c + 1, b"", ident + 11))
                put(tcp_frame(client, server, client_port, port, ACK, c + 1, s + 1, b"", ident + 12))
            if sessions % 64 == 0:
                asker, asked = SERVERS + sessions % (HOSTS - SERVERS), (sessions // 64) % HOSTS
                put(arp_frame(asker, asked, reply=False))
                put(arp_frame(asked, asker, reply=True))
            if sessions % 100 == 0:   # a SYN to a closed port, never answered
                k = (sessions // 100) % 500
                put(tcp_frame(SERVERS + k, k % SERVERS, 40000 + k, 8081, SYN, k, 0, b"", ident + 13))
            sessions += 1
        written = f.tell()
    return {"packets": packets, "sessions": sessions, "bytes": written}


# --- measurements (each in a child process of its own) ----------------------------------------------------

def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_floor(path: str, decode: bool) -> dict:
    """dpkt's read loop over `path`: iterate only, or decode each frame as Ethernet (the whole stack)."""
    import dpkt

    rss_before = _rss_mib()
    packets = 0
    started = time.perf_counter()
    with open(path, "rb") as f:
        if decode:
            ethernet_class = dpkt.ethernet.Ethernet
            for _, buf in dpkt.pcap.Reader(f):
                ethernet_class(buf)
                packets += 1
        else:
            for _ in dpkt.pcap.Reader(f):
                packets += 1
    seconds = time.perf_counter() - started
    return {"packets": packets, "seconds": seconds, "rss_before_mib": rss_before, "rss_peak_mib": _peak_mib()}


def measure_import(path: str) -> dict:
    """CaptureReader().read(path), then its reports(): packets/s and the process's memory."""
    from datetime import datetime, timezone

    from scanners.passive_capture import CaptureReader

    rss_before = _rss_mib()
    reader = CaptureReader()
    started = time.perf_counter()
    reader.read(Path(path))
    seconds = time.perf_counter() - started
    rss_after_read = _rss_mib()
    started = time.perf_counter()
    reports = list(reader.reports(datetime.now(timezone.utc)))
    report_seconds = time.perf_counter() - started
    return {"packets": reader.packets, "seconds": seconds, "report_seconds": report_seconds,
            "hosts": len(reader.hosts), "services": len(reader.services), "flows": len(reader.flows),
            "pending": len(reader.pending), "evicted": reader.evicted, "undecoded": reader.undecoded,
            "reports": len(reports), "looked_flows": sum(1 for f in reader.flows.values() if f.facts),
            "rss_before_mib": rss_before, "rss_after_read_mib": rss_after_read, "rss_peak_mib": _peak_mib()}


def profile_import(path: str, top: int) -> dict:
    """cProfile's top `top` functions (by own time) of CaptureReader.read over `path`."""
    import cProfile
    import io
    import pstats

    from scanners.passive_capture import CaptureReader

    reader = CaptureReader()
    profiler = cProfile.Profile()
    profiler.enable()
    reader.read(Path(path))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return {"text": out.getvalue(), "packets": reader.packets}


MEASURED_MAIN = """
import atexit, re, runpy, sys
report, sys.argv = sys.argv[1], sys.argv[2:]
def peak():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read())[1])
atexit.register(peak)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def measure_cli(path: Path, folder: Path) -> dict:
    """`main.py --db TEMP -q import path` as a user runs it: exit status, seconds, peak RSS, what was stored."""
    import sqlite3

    db, report = folder / "bench.db", folder / "peak.txt"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED_MAIN, str(report), str(ROOT / "main.py"), "--db", str(db),
                           "-q", "import", str(path)], capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT)
    seconds = time.perf_counter() - started
    stored = {}
    if db.exists():
        with sqlite3.connect(db) as connection:
            for table in ("hosts", "services", "connections"):
                stored[table] = connection.execute(f"select count(*) from {table}").fetchone()[0]
    return {"code": done.returncode, "stderr": done.stderr[-600:], "seconds": seconds,
            "rss_peak_mib": int(report.read_text()) / 1024 if report.exists() else None, "stored": stored}


def _child(kind: str, **spec) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps({"kind": kind, **spec})]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed ({done.returncode}): {done.stderr[-1500:]}")
    return json.loads(done.stdout.splitlines()[-1])


def _run_child(spec: dict) -> dict:
    kind = spec.pop("kind")
    if kind == "floor":
        return measure_floor(**spec)
    if kind == "import":
        return measure_import(**spec)
    return profile_import(**spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.5,2", help="capture sizes in GB (10^9 bytes), comma-separated "
                                                         "(default: 0.5,2)")
    parser.add_argument("--dir", help="where the captures are written (default: a new temporary folder, removed "
                                      "afterwards)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI import of the smallest size")
    parser.add_argument("--profile", action="store_true", help="also profile the import of the smallest size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="run the decode floor and the import alternately this "
                                                             "many times and keep the fastest of each, so a busy "
                                                             "moment of the machine does not make the ratio "
                                                             "(default: 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_child(json.loads(args.child))))
        return 0
    sizes = sorted(float(s) for s in args.sizes.split(","))
    import dpkt

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="estatemap-passive-") as folder:
        folder = Path(folder)
        print(f"dpkt {dpkt.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; population: "
              f"{HOSTS:,} hosts, {SERVERS} servers x 2 services, {FLOWS:,} flows; captures in {folder}", flush=True)
        rows = []
        for size in sizes:
            path = folder / f"mixed-{size:g}GB.pcap"
            started = time.perf_counter()
            written = write_capture(path, int(size * 1e9), args.seed)
            generated = time.perf_counter() - started
            print(f"\n{path.name}: {written['bytes'] / 1e9:.2f} GB, {written['packets']:,} packets, "
                  f"{written['sessions']:,} sessions, written in {generated:.0f} s", flush=True)
            iterate = _child("floor", path=str(path), decode=False)
            decodes, engines = [], []
            for _ in range(max(1, args.repeat)):  # alternately: the ratio compares like moments
                decodes.append(_child("floor", path=str(path), decode=True))
                engines.append(_child("import", path=str(path)))
            decode, engine = (min(runs, key=lambda run: run["seconds"]) for runs in (decodes, engines))
            for label, run in (("floor, iterate", iterate), ("floor, Ethernet decode", decode),
                               ("CaptureReader.read", engine)):
                print(f"  {label:<24} {run['packets'] / run['seconds']:>9,.0f} packets/s  ({run['seconds']:.1f} s; "
                      f"RSS {run['rss_before_mib']:.0f} -> peak {run['rss_peak_mib']:.0f} MiB)", flush=True)
            print(f"  import found {engine['hosts']:,} hosts, {engine['services']:,} services, {engine['flows']:,} "
                  f"flows ({engine['looked_flows']:,} with header facts), {engine['pending']:,} pending, "
                  f"{engine['evicted']} evicted, {engine['undecoded']} undecoded; reports() "
                  f"{engine['report_seconds']:.1f} s", flush=True)
            assert engine["packets"] == iterate["packets"] == decode["packets"] == written["packets"]
            rows.append((size, written, iterate, decode, engine))
            if size == sizes[0] and args.profile:
                profiled = _child("profile", path=str(path), top=25)
                print(f"\ncProfile of CaptureReader.read over {path.name} ({profiled['packets']:,} packets):\n"
                      f"{profiled['text']}", flush=True)
            if size == sizes[0] and not args.no_cli:
                cli = measure_cli(path, folder)
                print(f"  estatemap import (CLI, into a new store): exit {cli['code']}, {cli['seconds']:.1f} s = "
                      f"{written['packets'] / cli['seconds']:,.0f} packets/s, peak RSS {cli['rss_peak_mib']:.0f} MiB, "
                      f"stored {cli['stored']}" + (f"\n{cli['stderr']}" if cli["stderr"] else ""), flush=True)
            path.unlink()

    print(f"\n{'size GB':>7} {'packets':>11} {'iterate pkt/s':>13} {'decode pkt/s':>12} {'import pkt/s':>12} "
          f"{'ratio (decode)':>14} {'ratio (iterate)':>15} {'import peak RSS':>15} {'growth':>7}")
    for size, written, iterate, decode, engine in rows:
        rates = [run["packets"] / run["seconds"] for run in (iterate, decode, engine)]
        print(f"{written['bytes'] / 1e9:>7.2f} {written['packets']:>11,} {rates[0]:>13,.0f} {rates[1]:>12,.0f} "
              f"{rates[2]:>12,.0f} {rates[2] / rates[1]:>13.2f}x {rates[2] / rates[0]:>14.2f}x "
              f"{engine['rss_peak_mib']:>11.0f} MiB {engine['rss_peak_mib'] - engine['rss_before_mib']:>+7.0f}")
    if len(rows) > 1:
        (_, small_file, *_, small), (_, large_file, *_, large) = rows[0], rows[-1]
        print(f"Peak RSS of the import, {large_file['bytes'] / 1e9:.2f} GB vs {small_file['bytes'] / 1e9:.2f} GB: "
              f"{large['rss_peak_mib']:.0f} vs {small['rss_peak_mib']:.0f} MiB "
              f"({large['rss_peak_mib'] / small['rss_peak_mib']:.2f}x for "
              f"{large_file['packets'] / small_file['packets']:.1f}x the packets).")
    print("Goal: the import at >= 0.5x the floor's packets/s (the ratio columns), memory independent of size.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
