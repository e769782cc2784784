"""Writing files safely (exports, collector bundles): to a temporary file beside the target, then renamed into place.

While it is written, the temporary file (`.<name>.<random>.tmp`) is locked (flock); an export killed
before its rename leaves it unlocked, and the next export to the same path removes it. A full disk
or any other error removes the temporary file at once, and the previous file is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from discovery.records.model import EstateError

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporary files are left for the user to delete
    fcntl = None

log = logging.getLogger(__name__)


def check_target(path: Path, *, force: bool, how_to_replace: str) -> None:
    """Raise EstateError if `path` cannot be written: an existing file without `force` (the message ends with
    `how_to_replace`, in the words of the face that asks), a folder, no folder."""
    if path.is_dir():
        raise EstateError(f"{path} is a folder; give a file name to export to")
    if path.exists() and not path.is_file():  # a device (/dev/null), a FIFO or a socket is never replaced
        raise EstateError(f"{path} is not a regular file; give a file name to write to")
    if path.exists() and not force:
        raise EstateError(f"{path} exists; {how_to_replace}")
    if not path.parent.is_dir():
        raise EstateError(f"folder {path.parent} does not exist")


def _temporary_name(path: Path) -> re.Pattern:
    # tempfile.mkstemp's names: prefix, 8 characters from [a-z0-9_], suffix.
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files that exports to `path` killed before their rename left behind (unlocked:
    their writer is gone); return them. Files still being written (locked) are left alone."""
    if fcntl is None:
        return []
    removed = []
    pattern = _temporary_name(path)
    with contextlib.suppress(OSError):
        candidates = [entry for entry in os.scandir(path.parent) if pattern.fullmatch(entry.name)]
        for entry in candidates:
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(entry.path)  # still holding the lock: a new writer waits for it, then sees the unlink
                removed.append(Path(entry.path))
            except OSError:
                pass  # locked: another export is writing it right now
            finally:
                os.close(fd)
    if removed:
        log.warning("removed %d unfinished temporary file(s) of an earlier export to %s that was stopped: %s",
                    len(removed), path, ", ".join(p.name for p in removed))
    return removed


def _create_locked_temporary(path: Path) -> tuple[int, str]:
    """Create the temporary file beside `path`, locked against remove_stale_temporaries; return (fd, name)."""
    for _ in range(10):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass  # a cleaner took it between mkstemp and flock: make another
        os.close(fd)
    raise OSError(f"could not create a temporary file beside {path}")


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """Yield a file that replaces `path` only when the block ends without error.

    The file is created readable by its owner only (an estate map is sensitive). On any error
    the temporary file is removed and an existing `path` is left as it was; temporary files of
    earlier exports to `path` that were killed are removed first.
    """
    remove_stale_temporaries(path)
    try:
        fd, tmp = _create_locked_temporary(path)
    except OSError as error:
        raise EstateError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, mode, **open_args) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            os.replace(tmp, path)  # before the file (and its lock) is closed
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise EstateError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
