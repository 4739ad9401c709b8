"""Evaluate (``peclip eval``) or embed (``peclip embed``) a saved run or checkpoint on its own test split or
on any dataset or manifest.

It lives beside the trainer because a run folder's own data comes from its recipe (and, for the
synthetic recipe, from data the run generated).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from peclip import distributed
from peclip.checkpoint import load, read_config
from peclip.data.config import DataConfig
from peclip.data.dataset import read_split
from peclip.data.specs import DATASETS
from peclip.evaluation.embeddings import compute_embeddings, write_embeddings
from peclip.evaluation.evaluate import CLASS_TEXT_KEYS, data_config_for, evaluate_model, use_zero_shot_classes
from peclip.evaluation.expected import compare_expected, format_expected, gap_checks
from peclip.evaluation.options import EvalRequest
from peclip.evaluation.report import describe, write_report
from peclip.layout import CONFIG_YAML, RESULTS_JSON, resolve_checkpoint
from peclip.model import PEClip
from peclip.predict.onnx import load_exported
from peclip.train.config import load_recipe
from peclip.train.run import RunFolder
from peclip.train.trainer import resolve_data_config


@dataclass
class EvalJob:
    """What to evaluate and on what. ``data``: a dataset name or a manifest file; ``None`` takes a run's
    own test split. ``data_changes``/``model_overrides``/``runtime`` are the ``--set`` values.
    ``zero_shot`` scores against the class texts of the data's label set (or of ``model.classes`` /
    ``model.text_kind`` ... among the overrides) instead of the model's own. ``engine="onnx"`` scores
    an exported light model (``source`` is its ``.onnx`` file) through onnxruntime on the CPU."""

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
    expected: str | None = None  # a recipe whose expected numbers to compare with (default: the run's own)
    zero_shot: bool = False  # score against the data's class texts instead of the model's own
    engine: str = "torch"  # torch | onnx (``source`` is then a MODEL.onnx written by `peclip export`)


@dataclass
class _Saved:
    """A saved model opened for evaluation: where it came from, the data it reads, the process group."""

    source: Path
    checkpoint: Path
    is_run: bool
    model: PEClip
    request: EvalRequest
    tag: str
    info: distributed.DistInfo


@contextlib.contextmanager
def _open_saved(job: EvalJob) -> Iterator[_Saved]:
    source = Path(job.source)
    exported = job.engine == "onnx"
    if exported:  # checked before a process group or a dataset is touched
        flags = {"--pretrained": job.pretrained, "--set model.*": job.model_overrides, "--set runtime.*": job.runtime,
                 "--zero-shot": job.zero_shot}
        model = load_exported(source, device=job.device, precision=job.precision, unused=flags)
        checkpoint = source
    else:
        checkpoint = resolve_checkpoint(source)
    is_run = (source / CONFIG_YAML).is_file()
    info = distributed.setup("cpu" if exported else job.device)
    try:
        overrides, text_changes = dict(job.model_overrides), {}
        if job.zero_shot:  # the class texts are chosen after loading, from the data evaluated on
            text_changes = {k: overrides.pop(k) for k in list(overrides) if k in CLASS_TEXT_KEYS}
        if not exported:
            model = load(checkpoint, pretrained=job.pretrained, runtime=job.runtime, **overrides)
        cfg, tag = _data_config(job, model, source, is_run, info)
        if job.zero_shot:
            use_zero_shot_classes(model, cfg.label_set, text_changes)
        request = EvalRequest(cfg, job.split, cfg.fold if job.fold is None else job.fold, job.batch_size,
                              "cpu" if exported else job.device, "fp32" if exported else job.precision)
        yield _Saved(source, checkpoint, is_run, model, request, tag, info)
    finally:
        distributed.cleanup(info)


def evaluate_saved(job: EvalJob) -> list[str]:
    """Run the evaluation (on every process under torchrun), write the report; the lines to print."""
    expected = load_recipe(job.expected).expected if job.expected else None
    if job.expected and expected is None:
        raise ValueError(f"recipe {job.expected!r} records no expected numbers")
    with _open_saved(job) as saved:
        if expected is None and job.data is None and saved.is_run:
            expected = load_recipe(saved.source / CONFIG_YAML).expected
        output, items = evaluate_model(saved.model, saved.request, saved.info)
        if not saved.info.is_main:
            return []
        return _report(job, saved, output, items, expected)


def _report(job: EvalJob, saved: _Saved, output, items, expected) -> list[str]:
    """Write the report folder of an evaluation; the lines to print."""
    source, checkpoint, model, request = saved.source, saved.checkpoint, saved.model, saved.request
    exported = job.engine == "onnx"
    selection, epoch = "checkpoint", None if exported else read_config(checkpoint).get("epoch")
    if saved.is_run and (source / RESULTS_JSON).is_file():
        selection = json.loads((source / RESULTS_JSON).read_text())["selection"]
    if job.zero_shot:
        selection = "zero-shot"
    fold = f"fold{request.fold}-" if request.fold else ""
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{saved.tag}-{fold}{job.split}")
    if job.out:
        out = Path(job.out)
    else:
        name = checkpoint.stem if exported else checkpoint.name  # m.onnx -> eval-m-...
        out = source / f"eval-{tag}" if saved.is_run else Path(f"eval-{name}-{tag}")
    summary = output.result.summary()
    comparison = compare_expected(summary, expected) if expected is not None else None
    annotated = read_split(request.data, request.split, request.fold)  # frame counts as the annotation states
    checks = gap_checks(annotated, model.class_names, selection, request.data.num_frames,
                        expected.selection if expected is not None else None)
    write_report(out, output, model.class_names,
                 {"selection": selection, "epoch": epoch, "split": job.split, "data": tag,
                  "checkpoint": str(checkpoint), "engine": job.engine, "expected": comparison, "checks": checks},
                 [str(i.path) for i in items])
    lines = [f"{tag}  {describe(summary, selection, epoch)}"]
    for name, recall, support in zip(model.class_names, output.result.per_class_recall, output.result.support,
                                     strict=False):
        lines.append(f"  {name:<16} recall {recall:6.2f}  ({support} clips)")
    if comparison:
        lines.extend(format_expected(comparison))
    lines.extend(["checks that explain gaps:", *(f"  {line}" for line in checks)])
    lines.append(f"report: {out}")
    return lines


def embed_saved(job: EvalJob, output: str | Path, projection: str = "auto", seed: int = 0) -> list[str]:
    """Embed every clip of ``job``'s data with its saved model (the data path of :func:`evaluate_saved`, on
    every process under torchrun); write the embeddings, index and 2-D map into ``output``; the lines to print."""
    with _open_saved(job) as saved:
        embedded = compute_embeddings(saved.model, saved.request, saved.info)
        if not saved.info.is_main:
            return []
        title = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{saved.tag}-{job.split}")
        written = write_embeddings(output, embedded, list(saved.model.class_names), job.split, projection, seed,
                                   title=f"{saved.checkpoint.name}: {title}")
        lines = [f"{len(embedded.indices)} clips embedded ({embedded.embeddings.shape[1]} dimensions)"]
        lines.extend(f"  {kind:<12} {path}" for kind, path in written.items())
        return lines


def _data_config(job: EvalJob, model, source: Path, is_run: bool, info) -> tuple[DataConfig, str]:
    """The data to evaluate on, resolved for the model, and a tag naming it."""
    if job.data is None:
        if not is_run:
            raise ValueError(f"{source} carries no dataset (a checkpoint folder or exported model has none, a run "
                             "folder has its recipe's); give --data NAME_OR_MANIFEST")
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
