"""Where things are in a checkpoint folder and in a training run folder, and how to find the model in them.

A checkpoint folder (written by :func:`peclip.save`)::

    config.json              the model config, class texts, CLIP weights, runtime options
    trainable.safetensors    the trainable tensors only

A run folder (written by ``peclip train``)::

    config.yaml              the resolved recipe (``peclip train --resume`` reads it back)
    log.txt                  the run's log
    metrics.csv              one row per epoch (learning rates, train loss/accuracy, evaluation)
    tensorboard/             event files, when the tensorboard package is installed
    checkpoints/last/        a checkpoint folder + training_state.pt (optimizer, epoch, RNG states, best)
    checkpoints/best/        the epoch chosen by model selection (selection val or test)
    results.json             final numbers: the selected model and the last epoch, with the selection named
    eval/                    confusion.csv, confusion.png, per_class.csv, predictions.csv of the selected model

A checkpoint folder is written whole under a temporary name and renamed into place; the previous one
is kept as ``<name>.prev`` until the new one is in place (:func:`peclip.atomic.replace_dir`), and
:func:`checkpoint_dir` finds whichever is whole. This module is the one place that knows these names;
the checkpoint loader (core) and the trainer both read them from here.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import yaml

from peclip import hub

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "trainable.safetensors"
CONFIG_YAML = "config.yaml"
METRICS_CSV = "metrics.csv"
RESULTS_JSON = "results.json"
STATE_FILE = "training_state.pt"
CHECKPOINTS = "checkpoints"


def _complete(folder: Path, need_state: bool) -> bool:
    names = [CONFIG_FILE, WEIGHTS_FILE] + ([STATE_FILE] if need_state else [])
    return folder.is_dir() and all((folder / n).is_file() for n in names)


def checkpoint_dir(folder: str | os.PathLike, need_state: bool = False) -> Path | None:
    """The complete checkpoint at ``folder`` (or its ``.prev`` copy after an interrupted write), else None."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(f"{folder.name}.prev")):
        if _complete(candidate, need_state):
            return candidate
    return None


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
    if path.is_file() and path.suffix == ".onnx":
        raise ValueError(f"{path} is an exported ONNX model (`peclip export`); run it with --engine onnx "
                         "(predict, live, eval)")
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


def _selection(run_dir: Path) -> str:
    results = run_dir / RESULTS_JSON
    if results.is_file():
        return json.loads(results.read_text()).get("selection", "last")
    config = yaml.safe_load((run_dir / CONFIG_YAML).read_text()) or {}
    return (config.get("train") or {}).get("selection", "last")
