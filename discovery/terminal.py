"""What may reach the user's terminal from text that came from the network.

Banners, host names and process names are written by whoever runs the scanned host: ESC ] 0;…BEL retitles a
window, colour codes repaint it, bidi overrides reorder what is read. The command line, the stand-alone
collector and their logs print through terminal_safe(), so such characters are shown as escapes, not acted on.
"""

from __future__ import annotations

import logging
import re

# C0 controls but tab and new line, DEL, C1 (CSI), and bidirectional overrides and isolates.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Return `text` with every control and bidi character shown as an escape (\\x1b) instead of acted on."""
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                else f"\\u{ord(m.group()):04x}", str(text))


def one_line(error: BaseException | str) -> str:
    """An error as one line: a library's message may carry new lines (openpyxl's do), the user reads one."""
    return " ".join(str(error).split())


class TerminalSafeFormatter(logging.Formatter):
    """A log formatter whose lines go through terminal_safe (a -v log quotes scanned names too)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))
