"""Evaluate a saved model on any dataset or manifest: the data checks and the loop, on every process."""

from __future__ import annotations

from dataclasses import replace

from peclip.data.config import DataConfig
from peclip.data.dataset import ClipDataset, build_dataloader, load_dataset_items
from peclip.distributed import DistInfo, ShardSampler, on_main, pick_device
from peclip.evaluation.loop import evaluate
from peclip.evaluation.options import EvalRequest
from peclip.factory import resolve_config
from peclip.precision import resolve_precision

#: ModelConfig keys that only choose the class texts (zero-shot evaluation may change them after loading)
CLASS_TEXT_KEYS = ("classes", "label_set", "text_kind", "class_texts", "text_templates", "pn.positive", "pn.negative")


def check_compatible(model, data_cfg: DataConfig) -> DataConfig:
    """The data config resolved for ``model``: its frames per clip and frame size are the model's; a
    value set in the data config that differs is an error naming both."""
    return data_cfg.for_model(model.preprocess)


def check_labels(items, num_classes: int, where: str) -> None:
    labels = [i.label for i in items]
    bad = sorted({y for y in labels if y >= num_classes})
    if bad:
        raise ValueError(f"{where} has labels {bad} but the model has {num_classes} classes; the dataset's "
                         "label set does not match the model's (e.g. MAFW's 11 classes on a 7-class model)")


def evaluate_model(model, request: EvalRequest, dist_info=None, desc: str = "eval"):
    """Evaluate ``model`` on ``request``'s split; returns ``(EvalOutput, items)``."""
    info = dist_info or DistInfo(device=pick_device(request.device))
    cfg = check_compatible(model, request.data)
    items = on_main(lambda: load_dataset_items(cfg, request.split, request.fold, progress=request.progress), info)
    check_labels(items, model.config.num_classes, f"the {request.split} split")
    dataset = ClipDataset(items, cfg, train=False, seed=0)
    sampler = ShardSampler(len(dataset), info.rank, info.world_size)
    loader = build_dataloader(dataset, request.batch_size, train=False, sampler=sampler)
    model.to(info.device)
    precision = resolve_precision(request.precision, info.device)
    output = evaluate(model, loader, device=info.device, precision=precision, num_classes=model.config.num_classes,
                      dist_info=info, progress=request.progress, desc=desc)
    return output, items


def data_config_for(model, base: DataConfig | None = None, **changes) -> DataConfig:
    """A DataConfig for evaluating ``model``: ``base`` (e.g. the run's) or a fresh one, with ``changes``,
    resolved for the model (its frames per clip and frame size)."""
    cfg = DataConfig(**changes) if base is None else replace(base, **changes)
    return cfg.for_model(model.preprocess)


def use_zero_shot_classes(model, label_set: str, changes: dict | None = None) -> None:
    """Score ``model`` against the class texts of ``label_set`` (``changes`` may set ``classes``,
    ``text_kind``, ``text_templates`` ...): the FineCLIPER protocol of training on the captions of one
    dataset and evaluating zero-shot on the classes of another (docs/text-supervision.md).

    Only the texts change; a change that needs other trainable parts (to or from ``text_kind: pn``,
    whose negative texts have their own adapters) is refused.
    """
    changes = dict(changes or {})
    unknown = sorted(k for k in changes if k not in CLASS_TEXT_KEYS)
    if unknown:
        raise ValueError(f"zero-shot evaluation changes only the class texts ({', '.join(CLASS_TEXT_KEYS)}); "
                         f"not {', '.join(unknown)}")
    base = {"label_set": label_set, "classes": None, "class_texts": None}
    config = resolve_config(model.config, **{**base, **changes})
    if config.uses_pn != model.config.uses_pn:
        raise ValueError(f"the model was trained with text_kind={model.config.text_kind!r}; zero-shot evaluation "
                         "cannot switch to or from 'pn' (its negative texts have their own adapters)")
    model.config = config
    model.set_class_texts(config.texts(), config.class_names, config.negative_texts())
