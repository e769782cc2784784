"""nmap's XML (-oX), read safely and as a stream: one HostReport per <host> as soon as it is complete.

Used for live scans (nmap's stdout) and for imported files alike. python-nmap's parser keeps only
the last CPE of a port, drops tunnel, ostype, devicetype, service fingerprints and structured script
output, and needs the whole document; this one keeps everything, works on files cut short by an
interrupted scan, and never loads a whole file (1 GB imports stream in constant memory).
XML is parsed by defusedxml: entity declarations and external references are refused.
"""

from __future__ import annotations

import dataclasses
import math
import pyexpat
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import defusedxml
import defusedxml.ElementTree as SafeET

from discovery.records.model import Database, EstateError, Host, HostReport, OsClass, OsMatch, ScriptResult, Service

# nmap service names (and products) that are database engines.
_DATABASE_ENGINES = {
    "postgresql": "postgresql", "mysql": "mysql", "ms-sql-s": "mssql", "ms-sql-m": "mssql",
    "oracle-tns": "oracle", "oracle": "oracle", "mongodb": "mongodb", "mongod": "mongodb", "redis": "redis",
    "memcache": "memcached", "memcached": "memcached", "cassandra": "cassandra", "couchdb": "couchdb",
    "elasticsearch": "elasticsearch", "db2": "db2", "ibm-db2": "db2", "sybase": "sybase", "firebird": "firebird",
    "cockroachdb": "cockroachdb", "neo4j": "neo4j", "influxdb": "influxdb", "clickhouse": "clickhouse",
}
# nmap's osfamily → ours (Cisco's IOS is told from Apple's iOS by the vendor: _family_of).
_OS_FAMILIES = {"linux": "linux", "windows": "windows", "mac os x": "macos", "macos": "macos", "ios": "ios",
                "freebsd": "bsd", "openbsd": "bsd", "netbsd": "bsd", "bsd/os": "bsd", "solaris": "solaris",
                "sunos": "solaris", "aix": "aix", "hp-ux": "hp-ux", "irix": "irix", "tru64 unix": "tru64",
                "ios xe": "cisco-ios", "ios xr": "cisco-ios", "nx-os": "cisco-nx-os", "pix os": "cisco-pix",
                "asa os": "cisco-asa", "junos": "junos", "netware": "netware", "vxworks": "vxworks",
                "embedded": "embedded", "android": "android"}


# expat's errors for a document that simply stops: no element found, unclosed token, partial character.
_CUT_SHORT = {3, 5, 6}
# nmap's deepest elements (nested NSE <table>s) sit about ten levels down; anything far deeper is hostile
# (it would exhaust the recursion of the script-table reader and of the raw-evidence serialiser).
MAX_DEPTH = 100
# The largest integer SQLite stores; a bigger number in an attribute is treated as missing.
_MAX_INT = 2**63 - 1
CHECK_CHUNK = 1 << 20
# How far into a file whitespace and comments before an XML declaration are looked through (licence headers).
PROLOGUE_LIMIT = 64 * 1024
_BOM = b"\xef\xbb\xbf"


class NmapXmlError(EstateError):
    """The file is not nmap XML, or is unsafe to read."""


@dataclass
class RunInfo:
    """What the <nmaprun> element and its end say about the whole run."""
    args: str | None = None
    version: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit: str | None = None          # "success", "error"
    error: str | None = None
    hosts_up: int | None = None
    hosts_down: int | None = None
    complete: bool = False           # False: the document was cut short
    scan_types: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostDown:
    """A target nmap found down (reported with -v); it counts towards progress, nothing is stored."""
    address: str | None


@dataclass(frozen=True)
class TaskProgress:
    """nmap's own progress through a phase (with --stats-every)."""
    task: str
    percent: float | None
    remaining_seconds: int | None
    ended: bool = False


def _int(value: str | None) -> int | None:
    """Return an attribute as an int, or None when missing, not a number or beyond what SQLite stores."""
    try:
        number = int(value) if value not in (None, "") else None
    except ValueError:  # not a number, or more than Python's 4,300 digits
        return None
    return number if number is None or -_MAX_INT <= number <= _MAX_INT else None


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is None or math.isfinite(number) else None


def _time(value: str | None) -> datetime | None:
    seconds = _int(value)
    try:
        return datetime.fromtimestamp(seconds, timezone.utc) if seconds else None
    except (ValueError, OverflowError, OSError):  # a year datetime cannot hold
        return None


def _clean(value: str | None) -> str | None:
    """Return attribute text with surrounding space removed; empty becomes None."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def transform_script(element: ET.Element) -> ScriptResult:
    """Return an NSE <script> element's id, text output and structured <elem>/<table> data."""
    data = _script_data(element)
    return ScriptResult(id=element.get("id", "unknown"), output=_clean(element.get("output")),
                        data=data if data not in ({}, [], None) else None)


def _script_data(element: ET.Element):
    keyed, listed = {}, []
    for child in element:
        if child.tag == "elem":
            value = child.text or ""
        elif child.tag == "table":
            value = _script_data(child)
        else:
            continue
        key = child.get("key")
        if key is None:
            listed.append(value)
        else:
            keyed[key] = value
    if keyed and listed:
        keyed["_items"] = listed
    return keyed or listed


def transform_service(port: ET.Element, observed_at: datetime, source: str) -> Service | None:
    """Return the Service an nmap <port> element describes (every attribute nmap gave); None without a valid portid."""
    number = _int(port.get("portid"))
    if number is None or not 0 <= number <= 65535:
        return None
    state = port.find("state")
    svc = port.find("service")
    svc_get = svc.get if svc is not None else (lambda key, default=None: default)
    cpes = tuple(c.text.strip() for c in (svc.findall("cpe") if svc is not None else ()) if c.text and c.text.strip())
    return Service(
        protocol=port.get("protocol", "tcp"), port=number, source=source, observed_at=observed_at,
        state=state.get("state", "unknown") if state is not None else "unknown",
        reason=_clean(state.get("reason")) if state is not None else None,
        name=_clean(svc_get("name")), product=_clean(svc_get("product")), version=_clean(svc_get("version")),
        extra_info=_clean(svc_get("extrainfo")), tunnel=_clean(svc_get("tunnel")), cpes=cpes,
        method=_clean(svc_get("method")), confidence=_int(svc_get("conf")), os_type=_clean(svc_get("ostype")),
        device_type=_clean(svc_get("devicetype")), service_hostname=_clean(svc_get("hostname")),
        fingerprint=_clean(svc_get("servicefp")),
        scripts=tuple(transform_script(s) for s in port.findall("script")),
    )


def database_engine(service: Service) -> str | None:
    """Return the database engine a service is, from nmap's name or product, or None."""
    if service.name and service.name.removeprefix("ssl/") in _DATABASE_ENGINES:
        engine = _DATABASE_ENGINES[service.name.removeprefix("ssl/")]
        if engine == "mysql" and service.product and "mariadb" in service.product.lower():
            return "mariadb"
        return engine
    product = (service.product or "").lower()
    for word, engine in (("postgresql", "postgresql"), ("mariadb", "mariadb"), ("mysql", "mysql"),
                         ("microsoft sql server", "mssql"), ("mongodb", "mongodb"), ("redis", "redis"),
                         ("oracle tns", "oracle")):
        if word in product:
            return engine
    return None


def transform_os(os_element: ET.Element | None) -> tuple[OsMatch, ...]:
    """Return nmap's OS matches, best first.

    nmap 6 and later nest each match's <osclass> elements inside its <osmatch>; before nmap 6 they are
    siblings of the <osmatch> elements, not tied to one. Those are given to the matches whose name carries
    their vendor or family (else to the best match), and a host with classes but no match gets one made
    from its best class ("Sun Solaris 9")."""
    if os_element is None:
        return ()
    loose = [_os_class(c) for c in os_element.findall("osclass")]
    matches = []
    for m in os_element.findall("osmatch"):
        name = m.get("name", "unknown")
        classes = tuple(_os_class(c) for c in m.findall("osclass")) or tuple(c for c in loose if _names_class(name, c))
        matches.append(OsMatch(name=name, accuracy=_int(m.get("accuracy")) or 0, classes=classes))
    matches.sort(key=lambda m: -m.accuracy)
    if loose and matches and not any(m.classes for m in matches):
        matches[0] = dataclasses.replace(matches[0], classes=tuple(loose))
    if loose and not matches:  # every class at the best accuracy is a candidate: "Microsoft Windows 2003 or ... XP"
        top = max(c.accuracy or 0 for c in loose)
        names = [" ".join(dict.fromkeys(w for w in (c.vendor, c.family, c.generation) if w))
                 for c in loose if (c.accuracy or 0) == top]
        matches.append(OsMatch(name=" or ".join(dict.fromkeys(n for n in names if n)) or "unknown", accuracy=top,
                               classes=tuple(loose)))
    return tuple(matches)


def _os_class(element: ET.Element) -> OsClass:
    return OsClass(type=_clean(element.get("type")), vendor=_clean(element.get("vendor")),
                   family=_clean(element.get("osfamily")), generation=_clean(element.get("osgen")),
                   accuracy=_int(element.get("accuracy")),
                   cpes=tuple(p.text.strip() for p in element.findall("cpe") if p.text))


def _names_class(name: str, cls: OsClass) -> bool:
    """Whether an OS match's name names this (pre-nmap-6, unattached) class: its family, else its vendor."""
    words = name.lower()
    return any(w and w.lower() in words for w in (cls.family, cls.vendor))


def _os_family(matches: tuple[OsMatch, ...], services: list[Service]) -> str | None:
    for match in matches[:1]:
        for cls in sorted(match.classes, key=lambda c: -(c.accuracy or 0)):
            family = _family_of(cls.family, cls.vendor)
            if family:
                return family
    if matches and matches[0].classes:
        return None  # nmap named the OS's classes: a service's ostype (an FTP banner's) must not contradict them
    for service in services:  # a service's ostype ("Linux", "Windows") when OS detection did not run
        family = _family_of(service.os_type, None)
        if family:
            return family
    return None


def _family_of(family: str | None, vendor: str | None) -> str | None:
    """Our OS family for nmap's osfamily (and vendor: Cisco's IOS is not Apple's iOS)."""
    if not family:
        return None
    key = family.lower()
    if key == "ios" and (vendor or "").lower() == "cisco":
        return "cisco-ios"
    return _OS_FAMILIES.get(key)


def transform_host(element: ET.Element, *, source: str = "nmap", scan_time: datetime | None = None) -> HostReport:
    """Return the HostReport an nmap <host> element describes: host, open ports, databases, evidence."""
    observed_at = _time(element.get("endtime")) or _time(element.get("starttime")) or scan_time
    if observed_at is None:
        observed_at = datetime.now(timezone.utc).replace(microsecond=0)
    status = element.find("status")
    addresses, macs, mac_vendor = [], [], None
    for a in element.findall("address"):
        if a.get("addrtype") in ("ipv4", "ipv6") and a.get("addr"):
            addresses.append(a.get("addr"))
        elif a.get("addrtype") == "mac" and a.get("addr"):
            macs.append(a.get("addr").lower())
            mac_vendor = mac_vendor or _clean(a.get("vendor"))
    names = element.find("hostnames")
    hostnames = tuple(dict.fromkeys(n.get("name") for n in (names.findall("hostname") if names is not None else ())
                                    if n.get("name")))
    ports = element.find("ports")
    services = [s for p in (ports.findall("port") if ports is not None else ())
                if (s := transform_service(p, observed_at, source)) is not None]
    matches = transform_os(element.find("os"))
    best = matches[0] if matches else None
    uptime = element.find("uptime")
    host_scripts = element.find("hostscript")
    family = _os_family(matches, services)
    host = Host(
        source=source, observed_at=observed_at, hostname=hostnames[0] if hostnames else None, hostnames=hostnames,
        addresses=tuple(addresses), macs=tuple(macs), mac_vendor=mac_vendor,
        status=status.get("state") if status is not None else None,
        status_reason=_clean(status.get("reason")) if status is not None else None,
        os_name=best.name if best else None, os_family=family, os_matches=matches,
        uptime_seconds=_int(uptime.get("seconds")) if uptime is not None else None,
        boot_time=_boot_time(uptime), vendor=None,
        scripts=tuple(transform_script(s) for s in (host_scripts.findall("script") if host_scripts is not None else ())),
    )
    open_services = [s for s in services if s.state in ("open", "open|filtered")]
    databases = tuple(Database(engine=engine, port=s.port, protocol=s.protocol, version=s.version, source=source,
                               observed_at=observed_at)
                      for s in open_services if (engine := database_engine(s)))
    return HostReport(host=host, services=tuple(open_services), databases=databases,
                      raw={"nmap-host": ET.tostring(element, encoding="unicode")})


def _boot_time(uptime: ET.Element | None) -> datetime | None:
    if uptime is None or not uptime.get("lastboot"):
        return None
    try:
        return datetime.strptime(uptime.get("lastboot"), "%a %b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def leading_comments_end(head: bytes) -> int:
    """Return where `head` goes on after a byte order mark, whitespace and comments (0 if none of them begins it).

    A comment not closed within `head` ends the skip where it starts.
    """
    pos = len(_BOM) if head.startswith(_BOM) else 0
    while True:
        while pos < len(head) and head[pos] in b" \t\r\n":
            pos += 1
        if not head.startswith(b"<!--", pos) or (end := head.find(b"-->", pos + 4)) < 0:
            return pos
        pos = end + 3


def skip_text_before_declaration(stream: BinaryIO) -> int:
    """Move `stream` past whitespace and comments written before its XML declaration; return the lines skipped.

    XML allows nothing before `<?xml ...?>`, yet files in public repositories carry a licence comment
    there; such a file is read from its declaration. Without a declaration after them (comments are
    then legal), or for a stream that cannot seek (nmap's own output), the stream is left as it was.
    """
    if not stream.seekable():
        return 0
    start = stream.tell()
    head = stream.read(PROLOGUE_LIMIT)
    offset = leading_comments_end(head)
    if offset and head.startswith(b"<?xml", offset):
        stream.seek(start + offset)
        return head.count(b"\n", 0, offset)
    stream.seek(start)
    return 0


def iter_nmap_xml(stream: BinaryIO, *, source: str = "nmap", run: RunInfo | None = None
                  ) -> Iterator[HostReport | HostDown | TaskProgress]:
    """Yield a HostReport for each finished <host> that is up, HostDown for one that is down, and
    TaskProgress for each of nmap's progress elements.

    `run` (if given) is filled in with what <nmaprun> says, and `run.complete` tells whether the
    document ended properly. A document cut short ends the iteration quietly after the last whole
    host; a document that is not nmap XML, or that declares entities, raises NmapXmlError.
    """
    run = run if run is not None else RunInfo()
    depth = 0
    root = None
    seen_root = False
    skipped = skip_text_before_declaration(stream)
    try:
        for event, element in SafeET.iterparse(stream, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1:
                    if element.tag != "nmaprun":
                        raise _not_nmaprun(element.tag)
                    seen_root, root = True, element
                    run.args, run.version = element.get("args"), element.get("version")
                    run.started_at = _time(element.get("start"))
                elif depth > MAX_DEPTH:
                    raise _too_deep()
                continue
            depth -= 1
            if depth != 1:
                if depth == 0:
                    run.complete = True
                continue
            tag = element.tag
            if tag == "host":
                status = element.find("status")
                if status is not None and status.get("state") == "down":  # nothing to store: no transform
                    yield HostDown(next((a.get("addr") for a in element.findall("address")
                                         if a.get("addrtype") in ("ipv4", "ipv6") and a.get("addr")), None))
                else:
                    yield transform_host(element, source=source, scan_time=run.started_at)
            elif tag in ("taskprogress", "taskend"):
                yield TaskProgress(task=element.get("task", ""), percent=_float(element.get("percent")),
                                   remaining_seconds=_int(element.get("remaining")), ended=tag == "taskend")
            elif tag == "scaninfo":
                run.scan_types.append(f"{element.get('type')}/{element.get('protocol')}")
            elif tag == "runstats":
                finished, hosts = element.find("finished"), element.find("hosts")
                if finished is not None:
                    run.finished_at, run.exit = _time(finished.get("time")), finished.get("exit")
                    run.error = _clean(finished.get("errormsg"))
                if hosts is not None:
                    run.hosts_up, run.hosts_down = _int(hosts.get("up")), _int(hosts.get("down"))
            root.remove(element)  # constant memory: forget what has been handled
    except defusedxml.DefusedXmlException as error:
        raise _unsafe(type(error).__name__) from None
    except ET.ParseError as error:
        if error.code in _CUT_SHORT and seen_root:
            run.complete = False  # cut short (an interrupted scan, a partial copy): every whole host is kept
        else:
            line, column = error.position
            raise _parse_error(_shift_line(str(error), skipped), (line + skipped, column), seen_root) from None
    except (LookupError, ValueError) as error:  # an encoding Python does not know, or expat cannot use
        raise _bad_encoding(error) from None


def check_nmap_xml(stream: BinaryIO) -> bool:
    """Read a whole nmap XML document without keeping any of it; return True if it is complete, False if cut short.

    Raises NmapXmlError for everything iter_nmap_xml refuses (not nmap XML, entity declarations or external
    references, broken XML, nesting deeper than MAX_DEPTH, an unusable encoding), so a file can be checked
    before anything from it is stored. Memory stays constant whatever the file's size (expat alone: about
    150 MB/s).
    """
    parser = pyexpat.ParserCreate(namespace_separator="}")  # the tag names ElementTree sees
    depth, seen_root = 0, False

    def start(tag, attributes):
        nonlocal depth, seen_root
        depth += 1
        if depth == 1:
            if tag != "nmaprun":
                raise _not_nmaprun(tag if "}" not in tag else "{" + tag)
            seen_root = True
        elif depth > MAX_DEPTH:
            raise _too_deep()

    def end(tag):
        nonlocal depth
        depth -= 1

    def forbidden(*args):
        raise _unsafe("EntitiesForbidden")

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.EntityDeclHandler = parser.UnparsedEntityDeclHandler = forbidden
    parser.ExternalEntityRefHandler = forbidden
    skipped = skip_text_before_declaration(stream)
    try:
        while chunk := stream.read(CHECK_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except pyexpat.ExpatError as error:
        if error.code in _CUT_SHORT and seen_root:
            return False
        line = error.lineno + skipped
        raise _parse_error(pyexpat.ErrorString(error.code) + f": line {line}, column {error.offset}",
                           (line, error.offset), seen_root) from None
    except (LookupError, ValueError) as error:
        raise _bad_encoding(error) from None
    return True


def check_nmap_xml_file(path: str | Path) -> bool:
    """Return check_nmap_xml() for the file at `path`; raises NmapXmlError (also when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return check_nmap_xml(f)
    except OSError as error:
        raise NmapXmlError(f"cannot read {path}: {error.strerror or error}") from None


def _not_nmaprun(tag: str) -> NmapXmlError:
    shown = tag if len(tag) <= 60 else tag[:60] + "..."
    return NmapXmlError(f"not nmap XML (the document is <{shown}>, not <nmaprun>)")


def _too_deep() -> NmapXmlError:
    return NmapXmlError(f"refused nmap XML nested more than {MAX_DEPTH} elements deep (nmap's own output never is)")


def _unsafe(kind: str) -> NmapXmlError:
    return NmapXmlError(f"refused unsafe XML ({kind}: entity declarations and external references are not allowed)")


def _parse_error(message: str, position: tuple[int, int], seen_root: bool) -> NmapXmlError:
    line, column = position
    if "declaration not at start" in message:
        return NmapXmlError(f"text before the XML declaration on line {line}: only whitespace and comments may "
                            "come before it")
    if not seen_root:
        return NmapXmlError(f"not nmap XML ({message})")
    return NmapXmlError(f"broken nmap XML at line {line}, column {column} ({message})")


def _bad_encoding(error: Exception) -> NmapXmlError:
    return NmapXmlError(f"not nmap XML (its declared encoding cannot be read: {str(error)[:100]})")


def _shift_line(message: str, lines: int) -> str:
    """Return ElementTree's error message with its line number moved down by `lines` skipped before the parse."""
    if not lines:
        return message
    return re.sub(r"line (\d+)", lambda m: f"line {int(m[1]) + lines}", message, count=1)
