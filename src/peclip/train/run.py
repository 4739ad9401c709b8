"""Run folders: resolved config, logs, per-epoch metrics, atomic checkpoints, resume.

Layout of ``runs/<name>/``::

    config.yaml              the resolved recipe (``peclip train --resume`` reads it back)
    log.txt                  the run's log
    metrics.csv              one row per epoch (learning rates, train loss/accuracy, evaluation)
    tensorboard/             event files, when the tensorboard package is installed
    checkpoints/last/        peclip.save format + training_state.pt (optimizer, epoch, RNG states, best)
    checkpoints/best/        the epoch chosen by model selection (selection val or test)
    results.json             final numbers: the selected model and the last epoch, with the selection named
    eval/                    confusion.csv, confusion.png, per_class.csv, predictions.csv of the selected model

A checkpoint folder is written completely under a temporary name and then renamed into place; the
previous one is kept as ``<name>.prev`` until the new one is in place. A kill at any moment leaves
either the old or the new checkpoint whole, and :func:`checkpoint_dir` finds it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from peclip import hub
from peclip.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from peclip.checkpoint import save as save_model

log = logging.getLogger(__name__)

CONFIG_YAML = "config.yaml"
METRICS_CSV = "metrics.csv"
RESULTS_JSON = "results.json"
STATE_FILE = "training_state.pt"
CHECKPOINTS = "checkpoints"


# ------------------------------------------------------------------------------------------ checkpoints

def _complete(folder: Path, need_state: bool) -> bool:
    names = [CONFIG_FILE, WEIGHTS_FILE] + ([STATE_FILE] if need_state else [])
    return folder.is_dir() and all((folder / n).is_file() for n in names)


def write_checkpoint(folder: str | os.PathLike, model, extra: dict | None = None,
                     training_state: dict | None = None) -> Path:
    """Write ``model`` (peclip.save format) and, optionally, ``training_state`` into ``folder`` atomically."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    prev = folder.with_name(f"{folder.name}.prev")
    if tmp.exists():
        shutil.rmtree(tmp)  # left over from a write that was interrupted
    save_model(model, tmp, extra)
    if training_state is not None:
        torch.save(training_state, tmp / STATE_FILE)
    if folder.exists():
        if prev.exists():
            shutil.rmtree(prev)
        os.replace(folder, prev)
    os.replace(tmp, folder)
    if prev.exists():
        shutil.rmtree(prev)
    return folder


def checkpoint_dir(folder: str | os.PathLike, need_state: bool = False) -> Path | None:
    """The complete checkpoint at ``folder`` (or its ``.prev`` copy after an interrupted write), else None."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(f"{folder.name}.prev")):
        if _complete(candidate, need_state):
            return candidate
    return None


def read_training_state(folder: str | os.PathLike) -> dict:
    path = Path(folder) / STATE_FILE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:  # torch.load's errors for damaged files
        raise RuntimeError(f"cannot read the training state {path} ({err}); the checkpoint is damaged") from err


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder from a checkpoint folder or a run folder.

    For a run folder the checkpoint its model selection chose: ``checkpoints/best`` for selection
    ``val``/``test``, ``checkpoints/last`` for ``last`` (as recorded in ``results.json``, else in
    ``config.yaml``). A multi-fold run folder is an error naming its folds. ``hf-hub:ORG/NAME`` is
    downloaded (or found in the hub cache) with every file checked against its recorded sha256.
    """
    if hub.is_hub_name(path):
        return hub.download(str(path))
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; give a run folder (runs/NAME) or a checkpoint folder")
    if (path / CONFIG_FILE).is_file():
        return path
    if not (path / CONFIG_YAML).is_file():
        folds = sorted(p.name for p in path.glob("fold*") if (p / CONFIG_YAML).is_file())
        if folds:
            raise ValueError(f"{path} is a multi-fold run; pick one fold's run folder: "
                             f"{', '.join(str(path / f) for f in folds)}")
        raise FileNotFoundError(f"{path} is neither a checkpoint (no {CONFIG_FILE}) nor a run folder "
                                f"(no {CONFIG_YAML})")
    selection = _selection(path)
    order = ["best", "last"] if selection != "last" else ["last"]
    for name in order:
        found = checkpoint_dir(path / CHECKPOINTS / name)
        if found is not None:
            if name == "last" and selection != "last":
                log.warning("%s has no '%s'-selected checkpoint yet; using the last epoch's", path, selection)
            return found
    raise FileNotFoundError(f"run {path} has no checkpoint yet (nothing in {path / CHECKPOINTS}); "
                            "has it finished an epoch?")


def load_model(path: str | os.PathLike, pretrained: str | None = None, **overrides):
    """:func:`peclip.load` of a run folder (its selected checkpoint) or a checkpoint folder.

    A model trained on a backbone without pretrained weights (tests, the synthetic recipe) records the
    seed that built its random CLIP (``init_seed``), and ``peclip.load`` rebuilds that same CLIP.
    """
    from peclip.checkpoint import load

    return load(resolve_checkpoint(path), pretrained=pretrained, **overrides)


def _selection(run_dir: Path) -> str:
    results = run_dir / RESULTS_JSON
    if results.is_file():
        return json.loads(results.read_text()).get("selection", "last")
    import yaml

    config = yaml.safe_load((run_dir / CONFIG_YAML).read_text()) or {}
    return (config.get("train") or {}).get("selection", "last")


# ---------------------------------------------------------------------------------------- RNG states

def rng_state() -> dict:
    """Python, NumPy and torch (CPU and CUDA) RNG states, in types ``torch.load(weights_only=True)`` reads."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": list(random.getstate()[1]) + [random.getstate()[2]],
             "python_version": random.getstate()[0],
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                       "gauss": float(gauss)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    values = state["python"]
    random.setstate((state["python_version"], tuple(values[:-1]), values[-1]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------ run folder

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

    def write_config(self, config_yaml: str) -> None:
        if self.writer:
            tmp = self.path / (CONFIG_YAML + ".tmp")
            tmp.write_text(config_yaml)
            os.replace(tmp, self.path / CONFIG_YAML)

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
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)

    def read_metrics(self) -> list[dict]:
        path = self.path / METRICS_CSV
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def write_results(self, results: dict) -> None:
        if self.writer:
            tmp = self.path / (RESULTS_JSON + ".tmp")
            tmp.write_text(json.dumps(results, indent=2))
            os.replace(tmp, self.path / RESULTS_JSON)

    def read_results(self) -> dict:
        return json.loads((self.path / RESULTS_JSON).read_text())


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)
