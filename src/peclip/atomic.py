"""Atomic file output: every file peclip writes appears whole under its final name, or not at all.

A file is written under a temporary name beside its target (same folder, so the rename stays on one
filesystem) and renamed into place with :func:`os.replace`, which is atomic on POSIX and Windows. A
process killed mid-write leaves only the temporary file, never a partial file under the final name.
:func:`check_output_dir` checks an output folder before any work starts, so that a bad ``-o`` fails
at once rather than after the work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

TMP_SUFFIX = ".tmp"


def temporary_path(target: str | os.PathLike) -> Path:
    """The temporary name used while ``target`` is being written (hidden, beside it, same suffix last so
    that writers that pick a format from the suffix still see it)."""
    target = Path(target)
    return target.with_name(f".{target.stem}{TMP_SUFFIX}{target.suffix}")


@contextlib.contextmanager
def atomic_writer(target: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_writer(path) as tmp: write to tmp``; on success ``tmp`` replaces ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(target)
    tmp = temporary_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Make sure ``path`` can take output files before any work starts: create it, refuse a file or a
    folder that cannot be written, naming it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a folder; give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{what} {path} cannot be created: {err.strerror or err}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path} is not writable; give a folder you can write to")
    return path


def atomic_write(target: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``target`` atomically."""
    with atomic_writer(target) as tmp:
        write(tmp)
    return Path(target)


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    return atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(target: str | os.PathLike, data, default=None, allow_nan: bool = True) -> Path:
    """Write ``data`` as indented JSON to ``target`` atomically; ``allow_nan=False`` refuses NaN and inf."""
    return atomic_write_text(target, json.dumps(data, indent=2, default=default, allow_nan=allow_nan))


def replace_dir(target: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Write a whole folder atomically: ``write(tmp_dir)`` fills a fresh temporary folder, which then
    replaces ``target``. The previous folder is kept as ``<name>.prev`` until the new one is in place,
    so a kill at any moment leaves either the old or the new folder whole (the old one possibly under
    ``.prev``)."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}{TMP_SUFFIX}")
    prev = target.with_name(f"{target.name}.prev")
    if tmp.exists():
        shutil.rmtree(tmp)  # left over from a write that was interrupted
    tmp.mkdir(parents=True)
    write(tmp)
    if target.exists():
        if prev.exists():
            shutil.rmtree(prev)
        os.replace(target, prev)
    os.replace(tmp, target)
    if prev.exists():
        shutil.rmtree(prev)
    return target
