"""Estate Mapper's stand-alone collector: inventory this machine into a bundle file, for hosts the
workstation cannot reach. Needs only Python 3.11+ and psutil; `estatemap import FILE` reads the bundle.

    python3 estatemap-collector.pyz --out host.estate [--watch 1h --every 5m] [--force]

Exit status: 0 success, 1 a failure the user can fix (one line, no traceback), 2 bad usage.
The same collection as `estatemap collect` (scanners/bundle_collector.py); nothing here touches a store.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from discovery import __version__
from discovery.records.model import EstateError
from discovery.quiet import quiet_library_warnings
from discovery.terminal import TerminalSafeFormatter, one_line, terminal_safe

NAME = "estatemap-collector"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = logging.getLogger(NAME)
REPLACE_HINT = "use --force to replace it"  # an existing --out file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=NAME, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Inventory this machine (hardware, OS, software, processes, services, connections, databases) "
                    "into a bundle file to carry to the Estate Mapper workstation. Secrets in command lines are "
                    "redacted before they are written. Run as root (or Administrator) to see every process and socket.",
        epilog=f"Example: python3 {NAME}.pyz --out $(hostname).estate --watch 1h --every 5m\n"
               "Then, on the workstation: estatemap import HOST.estate")
    parser.add_argument("--out", "-o", required=True, metavar="FILE", help="the bundle file to write")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--watch", metavar="DURATION",
                        help="keep sampling connections for DURATION (e.g. 1h) to catch jobs and feeds a snapshot misses")
    parser.add_argument("--every", metavar="INTERVAL", help="time between samples with --watch (default: 5m)")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="count", default=0, help="say more (-vv for debugging detail)")
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    parser.add_argument("--version", action="version", version=f"{NAME} {__version__}")
    return parser


def collect(args: argparse.Namespace) -> int:
    """Collect this machine into args.out; return the exit status. Raises EstateError."""
    from discovery.files.atomic_files import check_target
    from discovery.scanning.sampling import watch_settings
    from scanners.bundle_collector import collect_bundle, write_bundle
    try:
        from scanners.local_host import LocalHostScanner
    except ImportError as error:
        raise EstateError(f"the collector needs psutil ({error}); install it with: python3 -m pip install psutil") from None

    path = Path(args.out)
    check_target(path, force=args.force, how_to_replace=REPLACE_HINT)  # before a long watch, not after it
    if args.every is not None and args.watch is None:
        raise EstateError("--every needs --watch (for example: --watch 1h --every 5m)")
    scanner = LocalHostScanner(**watch_settings(args.watch, args.every))
    arguments = "collect" + (f" --watch {args.watch} --every {args.every or '5m'}" if args.watch else "")
    if scanner.watch and not args.quiet:
        say(f"{NAME}: inventory, then connections sampled for {args.watch}; Ctrl-C stops early and keeps "
            "what was sampled", error=True)
    doc = collect_bundle(scanner, name=NAME, arguments=arguments,
                         progress=lambda done, total, message: log.info("%s/%s %s", done, total or "?", message))
    summary = write_bundle(doc, path)
    if not args.quiet:
        say(summary)
    for warning in doc["scan"]["warnings"]:
        say(f"warning: {warning}", error=True)
    if doc["scan"]["status"] != "completed":
        say(f"{NAME}: the watch was interrupted; {path} holds what was sampled until then", error=True)
        return EXIT_FAILURE
    return EXIT_OK


def say(message: str, *, error: bool = False) -> None:
    """Print one message (stderr with `error`) through terminal_safe: warnings quote this machine's names."""
    print(terminal_safe(message), file=sys.stderr if error else sys.stdout)


def main(argv: list[str] | None = None) -> int:
    """Run the collector's command line; return the exit status."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING if args.quiet or not args.verbose else
                        logging.INFO if args.verbose == 1 else logging.DEBUG, handlers=[handler])
    quiet_library_warnings(args.verbose)
    try:
        return collect(args)
    except EstateError as error:
        say(f"{NAME}: error: {one_line(error)}", error=True)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        say(f"{NAME}: interrupted; nothing written", error=True)
        return EXIT_FAILURE
    except Exception as error:  # never a traceback for the user; -vv shows it
        log.debug("unexpected error", exc_info=True)
        say(f"{NAME}: error: unexpected {type(error).__name__}: {one_line(error)} (run with -vv for details)",
            error=True)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
