"""Writing export files safely: to a temporary file beside the target, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from discovery.model import EstateError


def check_target(path: Path, *, force: bool) -> None:
    """Raise EstateError if `path` cannot be written: an existing file without `force`, a folder, no folder."""
    if path.is_dir():
        raise EstateError(f"{path} is a folder; give a file name to export to")
    if path.exists() and not force:
        raise EstateError(f"{path} exists; use --force to replace it")
    if not path.parent.is_dir():
        raise EstateError(f"folder {path.parent} does not exist")


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """Yield a file that replaces `path` only when the block ends without error.

    The file is created readable by its owner only (an estate map is sensitive). On any error
    the temporary file is removed and an existing `path` is left as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise EstateError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, mode, **open_args) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as error:
        os.unlink(tmp)
        raise EstateError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        os.unlink(tmp)
        raise
