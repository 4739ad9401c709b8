"""Run folders: resolved config, per-epoch metrics, results (the layout is in :mod:`peclip.layout`).

Only the main process (``writer=True``) writes; every file is written atomically (:mod:`peclip.atomic`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from peclip.atomic import atomic_write_json, atomic_write_text, atomic_writer
from peclip.faces.options import FACES_RECORD
from peclip.layout import CHECKPOINTS, CONFIG_YAML, METRICS_CSV, RESULTS_JSON, checkpoint_dir


class RunFolder:
    """A run's folder; only the main process (``writer=True``) writes to it."""

    def __init__(self, path: str | os.PathLike, writer: bool = True):
        self.path = Path(path)
        self.writer = writer

    @property
    def last(self) -> Path:
        return self.path / CHECKPOINTS / "last"

    @property
    def best(self) -> Path:
        return self.path / CHECKPOINTS / "best"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    def has_started(self) -> bool:
        return (self.path / CONFIG_YAML).is_file()

    def is_finished(self) -> bool:
        return (self.path / RESULTS_JSON).is_file()

    def create(self, config_yaml: str) -> None:
        """Start a new run (on the writing process): the folder must not hold another run."""
        if not self.writer:
            return
        if self.has_started():
            raise ValueError(f"run folder {self.path} already holds a run; continue it with --resume {self.path} "
                             "or choose another name (--name / run.name)")
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_config(config_yaml)

    def record_faces(self, manifest: str | os.PathLike | None) -> None:
        """Copy ``faces.json`` (how ``peclip prepare`` cropped the faces) from beside the training manifest,
        so that ``peclip predict --checkpoint`` crops new videos the same way."""
        if not self.writer or not manifest:
            return
        source = Path(manifest)
        source = (source if source.is_dir() else source.parent) / FACES_RECORD
        if source.is_file():
            atomic_write_text(self.path / FACES_RECORD, source.read_text(encoding="utf-8"))

    def write_config(self, config_yaml: str) -> None:
        if self.writer:
            atomic_write_text(self.path / CONFIG_YAML, config_yaml)

    def read_config(self) -> str:
        path = self.path / CONFIG_YAML
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} is not a run folder ({CONFIG_YAML} is missing)")
        return path.read_text()

    def last_checkpoint(self) -> Path | None:
        return checkpoint_dir(self.last, need_state=True)

    def append_metrics(self, row: dict) -> None:
        """Add one epoch's row to metrics.csv (rows of epochs >= this one are dropped first: a resumed
        run rewrites the epochs it repeats)."""
        if not self.writer:
            return
        path = self.path / METRICS_CSV
        rows = self.read_metrics()
        rows = [r for r in rows if int(r["epoch"]) < int(row["epoch"])] + [{k: _fmt(v) for k, v in row.items()}]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with atomic_writer(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    def read_metrics(self) -> list[dict]:
        path = self.path / METRICS_CSV
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def write_results(self, results: dict) -> None:
        if self.writer:
            atomic_write_json(self.path / RESULTS_JSON, results)

    def read_results(self) -> dict:
        return json.loads((self.path / RESULTS_JSON).read_text())


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)
