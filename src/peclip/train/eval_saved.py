"""Evaluate a saved run or checkpoint on its own test split or on any dataset or manifest (``peclip eval``).

It lives beside the trainer because a run folder's own data comes from its recipe (and, for the
synthetic recipe, from data the run generated).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from peclip import distributed
from peclip.checkpoint import load, read_config
from peclip.data.config import DataConfig
from peclip.data.specs import DATASETS
from peclip.evaluation.evaluate import CLASS_TEXT_KEYS, data_config_for, evaluate_model, use_zero_shot_classes
from peclip.evaluation.options import EvalRequest
from peclip.evaluation.report import describe, write_report
from peclip.layout import CONFIG_YAML, RESULTS_JSON, resolve_checkpoint
from peclip.train.config import load_recipe
from peclip.train.run import RunFolder
from peclip.train.trainer import resolve_data_config


@dataclass
class EvalJob:
    """What to evaluate and on what. ``data``: a dataset name or a manifest file; ``None`` takes a run's
    own test split. ``data_changes``/``model_overrides``/``runtime`` are the ``--set`` values.
    ``zero_shot`` scores against the class texts of the data's label set (or of ``model.classes`` /
    ``model.text_kind`` ... among the overrides) instead of the model's own."""

    source: Path
    data: str | None = None
    manifest: str | None = None
    root: str | None = None
    fold: int | None = None
    split: str = EvalRequest.split
    batch_size: int = EvalRequest.batch_size
    device: str = EvalRequest.device
    precision: str = EvalRequest.precision
    pretrained: str | None = None
    out: str | None = None
    data_changes: dict = field(default_factory=dict)
    model_overrides: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    zero_shot: bool = False


def evaluate_saved(job: EvalJob) -> list[str]:
    """Run the evaluation (on every process under torchrun), write the report; the lines to print."""
    source = Path(job.source)
    checkpoint = resolve_checkpoint(source)
    is_run = (source / CONFIG_YAML).is_file()
    info = distributed.setup(job.device)
    try:
        overrides, text_changes = dict(job.model_overrides), {}
        if job.zero_shot:  # the class texts are chosen after loading, from the data evaluated on
            text_changes = {k: overrides.pop(k) for k in list(overrides) if k in CLASS_TEXT_KEYS}
        model = load(checkpoint, pretrained=job.pretrained, runtime=job.runtime, **overrides)
        cfg, tag = _data_config(job, model, source, is_run, info)
        if job.zero_shot:
            use_zero_shot_classes(model, cfg.label_set, text_changes)
        request = EvalRequest(cfg, job.split, cfg.fold if job.fold is None else job.fold, job.batch_size,
                              job.device, job.precision)
        output, items = evaluate_model(model, request, info)
        if not info.is_main:
            return []
        selection, epoch = "checkpoint", read_config(checkpoint).get("epoch")
        if job.zero_shot:
            selection = "zero-shot"
        if is_run and (source / RESULTS_JSON).is_file():
            selection = json.loads((source / RESULTS_JSON).read_text())["selection"]
        fold = f"fold{request.fold}-" if request.fold else ""
        tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{tag}-{fold}{job.split}")
        if job.out:
            out = Path(job.out)
        else:
            out = source / f"eval-{tag}" if is_run else Path(f"eval-{checkpoint.name}-{tag}")
        write_report(out, output, model.class_names,
                     {"selection": selection, "epoch": epoch, "split": job.split, "data": tag,
                      "checkpoint": str(checkpoint)}, [str(i.path) for i in items])
        lines = [f"{tag}  {describe(output.result.summary(), selection, epoch)}"]
        for name, recall, support in zip(model.class_names, output.result.per_class_recall, output.result.support,
                                         strict=False):
            lines.append(f"  {name:<16} recall {recall:6.2f}  ({support} clips)")
        lines.append(f"report: {out}")
        return lines
    finally:
        distributed.cleanup(info)


def _data_config(job: EvalJob, model, source: Path, is_run: bool, info) -> tuple[DataConfig, str]:
    """The data to evaluate on, resolved for the model, and a tag naming it."""
    if job.data is None:
        if not is_run:
            raise ValueError("a checkpoint folder carries no dataset; give --data NAME_OR_MANIFEST")
        recipe = load_recipe(source / CONFIG_YAML)
        base = resolve_data_config(recipe, RunFolder(source, writer=False), info)
        changes = {"root": job.root, "manifest": job.manifest}
        return data_config_for(model, base, **{k: v for k, v in changes.items() if v}, **job.data_changes), \
            recipe.data.dataset
    name = job.data.lower()
    fields = {"root": job.root, "fold": job.fold}
    if name in DATASETS:
        fields.update(dataset=name, manifest=job.manifest)
    else:
        if not Path(job.data).is_file():
            raise FileNotFoundError(f"--data {job.data!r} is neither a dataset ({', '.join(DATASETS)}) "
                                    "nor a manifest file")
        # the whole file is the test split unless it has a split column
        fields.update(dataset="custom", manifest=job.data, test_manifest=job.data)
    fields.update(job.data_changes)
    cfg = data_config_for(model, None, **{k: v for k, v in fields.items() if v is not None})
    return cfg, name if name in DATASETS else Path(job.data).stem
