"""Which files a prediction run reads: files as given, directories expanded to their media files."""

from __future__ import annotations

import os
from pathlib import Path

# MEDIA_SUFFIXES: the files taken from a directory (a file named directly is always tried, whatever its suffix)
from peclip.data.formats import MEDIA_SUFFIXES


def find_inputs(paths: list[str | os.PathLike], recursive: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand ``paths`` into media files, in the order given (directory contents sorted by name).

    Returns ``(files, problems)``; ``problems`` lists ``(path, message)`` for paths that do not exist
    and directories without media files, so that a run can go on with the rest and report them.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
            if not found:
                problems.append((str(path), "the directory holds no video or image files ("
                                 f"{', '.join(sorted(MEDIA_SUFFIXES))}){'' if recursive else '; try --recursive'}"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append((str(path), "no such file or directory"))
    return files, problems
