"""Model cards for shared checkpoints, written from the run that made them, and ``peclip push``.

The card says what the weights are (model, classes, the faithful-mode switch), how they were made
(recipe, dataset, fold, epochs, the metrics with the model-selection rule that picked them), with
which code (peclip version and git commit), what they need (the CLIP weights, with their sha256
when they are a local file), and the sha256 of every file, which :func:`peclip.hub.download` checks.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import yaml

from peclip import __version__, checkpoint, hub
from peclip.evaluation.report import SELECTION_TEXT
from peclip.layout import CONFIG_YAML, RESULTS_JSON, resolve_checkpoint
from peclip.official import BACKBONE_FILE

log = logging.getLogger(__name__)


def git_commit() -> str:
    """The git commit of the peclip source in use (``unknown`` outside a git checkout)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(checkpoint.__file__).parent, capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def checkpoint_files(folder: Path) -> dict[str, Path]:
    """The files of a checkpoint folder that a hub copy holds."""
    names = [checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE, BACKBONE_FILE]
    return {n: folder / n for n in names if (folder / n).is_file()}


def _clip_line(meta: dict, folder: Path) -> str:
    recorded = meta.get("pretrained")
    backbone = meta["model"]["backbone"]["name"]
    if recorded and Path(str(recorded)).name == recorded and (folder / recorded).is_file():
        return f"travel with the weights (`{recorded}`, sha256 in the file table)"
    if recorded in (None, "", "none"):
        if "init_seed" in meta:
            return f"a random {backbone} built from seed {meta['init_seed']} (peclip rebuilds it; tests and demos only)"
        return "none recorded: give them with `peclip.load(..., pretrained=...)`"
    path = Path(os.path.expanduser(str(recorded)))
    if path.is_file():
        return (f"{backbone} from the local file `{path.name}`, sha256 `{hub.sha256(path)}`; pass its path: "
                f"`peclip.load(NAME, pretrained='path/to/{path.name}')`")
    return f"{backbone}, open_clip tag `{recorded}` (fetched by open_clip on first use)"


def model_card(source: str | os.PathLike, repo_id: str) -> str:
    """The model card (markdown) of a run or checkpoint folder, with the sha256 of every file it uploads."""
    source = Path(source)
    folder = resolve_checkpoint(source)
    meta = checkpoint.read_config(folder)
    model = meta["model"]
    results = json.loads((source / RESULTS_JSON).read_text()) if (source / RESULTS_JSON).is_file() else None
    recipe = yaml.safe_load((source / CONFIG_YAML).read_text()) if (source / CONFIG_YAML).is_file() else None
    lines = ["---", "library_name: peclip", "tags: [video-classification, facial-expression-recognition, pe-clip]",
             "---", "", f"# {repo_id}", "",
             "PE-CLIP (arXiv 2503.16945) for dynamic facial expression recognition, trained with peclip.", "",
             "```python", "import peclip", f'model = peclip.load("hf-hub:{repo_id}")  # files checked against the '
             "sha256 below", "```", "", "## Model", ""]
    classes = meta.get("class_names") or []
    gru = ("per video (peclip default)" if model["temporal"]["per_video"]
           else "over the flattened batch*frames axis, as the official code runs it (faithful mode)")
    lines += [f"- model: `{model.get('name')}` on {model['backbone']['name']}, {len(classes)} classes: "
              f"{', '.join(classes)}", f"- GRU of the TDA: {gru}", f"- CLIP weights needed: {_clip_line(meta, folder)}"]
    converted = meta.get("converted_from")
    if converted:
        lines.append(f"- converted from the official PE-CLIP checkpoint `{converted.get('file')}` (sha256 "
                     f"`{converted.get('sha256')}`, epoch {converted.get('epoch')}, "
                     f"best_acc {converted.get('best_acc')})")
    lines += ["", "## Training and results", ""]
    if recipe is not None:
        data = recipe.get("data") or {}
        train = recipe.get("train") or {}
        lines += [f"- recipe: `{recipe.get('name')}`; data: `{data.get('dataset')}`, fold {data.get('fold')}, "
                  f"{data.get('num_frames')} frames per clip", f"- epochs {train.get('epochs')}, batch "
                  f"{train.get('batch_size')}, precision {train.get('precision')}, seed {train.get('seed')}"]
    if results is not None:
        rule = SELECTION_TEXT.get(results["selection"], results["selection"])
        sel, last = results["selected"], results["last"]
        lines += [f"- test UAR {sel['uar']:.2f}, WAR {sel['war']:.2f} ({rule}, epoch {sel['epoch']})",
                  f"- last epoch: UAR {last['uar']:.2f}, WAR {last['war']:.2f} (epoch {last['epoch']})"]
    elif recipe is None:
        lines.append("- no run folder was given: no training record (a bare checkpoint)")
    lines += ["", "## Provenance", "", f"- peclip {__version__}, git commit `{git_commit()}`",
              f"- checkpoint format `{meta.get('format')}`", "", "## Files", "", "| file | sha256 | bytes |",
              "|---|---|---|"]
    for name, path in checkpoint_files(folder).items():
        lines.append(f"| {name} | {hub.sha256(path)} | {path.stat().st_size} |")
    return "\n".join(lines) + "\n"


def push(source: str | os.PathLike, repo_id: str, api=None, private: bool = False) -> str:
    """Upload a run's selected checkpoint (or a checkpoint folder) with its model card; returns the commit."""
    repo_id, _ = hub.parse(repo_id)
    folder = resolve_checkpoint(source)
    card = model_card(source, repo_id)
    return hub.upload(checkpoint_files(folder), card, repo_id, api=api, private=private,
                      message=f"peclip push of {Path(source).name}")
