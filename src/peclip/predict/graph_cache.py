"""The on-disk cache of int8 vision graphs, and the limits that keep it from growing without bound.

Exporting and quantising a ViT-B/16 vision tower takes about a minute on a small CPU, so
:mod:`peclip.predict.int8` keeps each quantised graph (about 90 MB for ViT-B/16) in a folder, named by
a hash of everything it depends on. Every new model, fine-tuned checkpoint or clip length adds one,
so the folder is pruned each time a graph is written:

- **age**: a graph not used for ``max_age_days`` (default 30) is deleted (a cache hit touches the
  file, so the age is the time since the last use);
- **count**: at most ``max_files`` graphs (default 8) are kept, the most recently used first;
- **size**: at most ``max_mb`` megabytes (default 2048) in all, the most recently used first.

The graph just written or read is never deleted, even when it alone is over a limit. The limits come
from :class:`CacheLimits`, whose defaults the environment may change: ``PECLIP_CACHE_MAX_AGE_DAYS``,
``PECLIP_CACHE_MAX_FILES``, ``PECLIP_CACHE_MAX_MB``. Only files named ``vision-*.onnx`` are touched
(and stale ``.tmp`` leftovers of a killed write older than a day), so a cache folder shared with
other files stays safe.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from peclip.atomic import TMP_SUFFIX

log = logging.getLogger(__name__)

#: the files this cache owns inside its folder
PATTERN = "vision-*.onnx"
_DAY = 86400.0


@dataclass(frozen=True)
class CacheLimits:
    """How long and how much the int8 graph cache keeps (module docstring)."""

    max_age_days: float = 30.0
    max_files: int = 8
    max_mb: float = 2048.0

    def __post_init__(self) -> None:
        if not self.max_age_days > 0 or not isinstance(self.max_files, int) or self.max_files < 1 \
                or not self.max_mb > 0:
            raise ValueError(f"cache limits must be positive (max_age_days={self.max_age_days}, max_files="
                             f"{self.max_files}, max_mb={self.max_mb}); set PECLIP_CACHE_MAX_AGE_DAYS, "
                             "PECLIP_CACHE_MAX_FILES, PECLIP_CACHE_MAX_MB to positive numbers")

    @classmethod
    def from_environment(cls) -> CacheLimits:
        """The defaults, changed by ``PECLIP_CACHE_MAX_AGE_DAYS`` / ``_MAX_FILES`` / ``_MAX_MB`` where set."""
        values = {}
        for field, name, kind in (("max_age_days", "PECLIP_CACHE_MAX_AGE_DAYS", float),
                                  ("max_files", "PECLIP_CACHE_MAX_FILES", int),
                                  ("max_mb", "PECLIP_CACHE_MAX_MB", float)):
            raw = os.environ.get(name)
            if raw:
                try:
                    values[field] = kind(raw)
                except ValueError as err:
                    raise ValueError(f"{name}={raw!r} is not a {kind.__name__}; unset it or give e.g. "
                                     f"{getattr(cls, field)}") from err
        return cls(**values)


def touch(path: Path) -> None:
    """Mark ``path`` as just used (its modification time is what the age and the order go by)."""
    try:
        os.utime(path)
    except OSError as err:  # a read-only cache still serves; it just cannot record the use
        log.debug("could not touch %s: %s", path, err)


def prune(folder: Path, limits: CacheLimits | None = None, keep: Path | None = None,
          now: float | None = None) -> list[Path]:
    """Delete the graphs in ``folder`` that are over ``limits`` (never ``keep``); return the deleted paths."""
    limits = limits or CacheLimits.from_environment()
    now = time.time() if now is None else now
    if not folder.is_dir():
        return []
    entries = []
    for path in folder.glob(PATTERN):
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile by another process
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    entries.sort(key=lambda e: e[0], reverse=True)  # most recently used first
    deleted, kept_files, kept_bytes = [], 0, 0
    for mtime, size, path in entries:
        protected = keep is not None and path.resolve() == keep.resolve()
        too_old = now - mtime > limits.max_age_days * _DAY
        too_many = kept_files >= limits.max_files
        too_big = kept_bytes + size > limits.max_mb * 1e6
        if not protected and (too_old or too_many or too_big):
            try:
                path.unlink()
                deleted.append(path)
            except OSError as err:
                log.debug("could not delete %s: %s", path, err)
            continue
        kept_files, kept_bytes = kept_files + 1, kept_bytes + size
    for tmp in folder.glob(f".vision-*{TMP_SUFFIX}.onnx"):  # a write killed half-way (atomic_writer's name)
        try:
            if now - tmp.stat().st_mtime > _DAY:
                tmp.unlink()
                deleted.append(tmp)
        except OSError:
            continue
    if deleted:
        log.info("int8 graph cache %s: deleted %d file(s) over its limits (%s)", folder, len(deleted), limits)
    return deleted
