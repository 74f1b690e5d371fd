"""Write a whole file or nothing: a crash mid-write never leaves half a results file."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary_beside(target: Path) -> tuple[int, str]:
    """A new temporary file in the target's folder (made if missing), for an atomic rename."""
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # mkdir would not say which is in the way
        in_the_way = (f for f in (folder, *folder.parents) if f.exists() and not f.is_dir())
        blocker = next(in_the_way, folder)
        raise NotADirectoryError(f"{blocker} is not a folder") from None
    return tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")


def _refuse_special(target: Path) -> None:
    """A rename would put a results file in place of a device, FIFO or socket (`-f
    /dev/full` once replaced the device node): only regular files are ours to replace."""
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{target} is a folder")
    if not stat.S_ISREG(mode):
        raise OSError(f"{target} is not a regular file (a {_kind(mode)}): give a file path")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"


def check_writable(path: str | Path) -> None:
    """Raise OSError unless `path` can be written: found before a sweep, not after it."""
    target = Path(path)
    _refuse_special(target)
    fd, tmp = _temporary_beside(target)
    os.close(fd)
    os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    def fill(fd: int) -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    _replace(Path(path), fill)


def write_chunks(path: str | Path, chunks: Iterable[str]) -> None:
    """write_text for a file made piece by piece: a large one need not be one string."""

    def fill(fd: int) -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.writelines(chunks)

    _replace(Path(path), fill)


def write_bytes(path: str | Path, data: bytes) -> None:
    def fill(fd: int) -> None:
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    _replace(Path(path), fill)


def _replace(target: Path, fill: Callable[[int], None]) -> None:
    """Fill a temporary file beside the target, then rename it over the target."""
    _refuse_special(target)
    fd, tmp = _temporary_beside(target)
    try:
        fill(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
