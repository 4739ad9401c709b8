"""``train(recipe)``: one training run from a recipe, into a run folder, resumable (docs/spec.md 3, 4.3).

Per epoch: set the learning rates (:mod:`peclip.train.schedule`), train one epoch, evaluate on the
selection split, write metrics and the ``last`` checkpoint (and ``best`` when model selection picks
this epoch). At the end the selected model is evaluated on the test split and ``results.json`` and
``eval/`` are written. Model selection (``train.selection``):

- ``last`` (default, honest): the model after the last epoch;
- ``val``: the best epoch on a validation split carved from the training split (stratified, seeded);
- ``test``: the best epoch on the test split, the official code's protocol (docs/spec.md 3.1, 10 A6),
  comparable with published numbers but optimistic. The last epoch is always reported beside it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.data.distributed import DistributedSampler

from peclip import distributed
from peclip.checkpoint import load_trainable_state
from peclip.data.captions import check_captions
from peclip.data.config import DataConfig
from peclip.data.cotrain import DomainBatchSampler, DomainDataset, build_domain_loader, remap_to_classes
from peclip.data.dataset import ClipDataset, build_dataloader, load_dataset_items, set_loader_epoch
from peclip.data.specs import DATASETS
from peclip.data.synthetic import write_motion_dataset, write_shape_dataset
from peclip.evaluation.evaluate import check_compatible, check_labels
from peclip.evaluation.loop import EvalOutput, evaluate
from peclip.evaluation.report import describe, write_report
from peclip.factory import create_model
from peclip.labels import get_label_set
from peclip.layout import WEIGHTS_FILE, checkpoint_dir, resolve_checkpoint
from peclip.precision import resolve_precision
from peclip.train.checkpoints import read_training_state, write_checkpoint
from peclip.train.config import Recipe, dump_recipe
from peclip.train.distill import Distiller, Teacher, WithTeacherLogits, clips_are_deterministic, teacher_cache
from peclip.train.engine import CaptionContrastiveLoss, NonFiniteLossError, train_one_epoch
from peclip.train.rng import rng_state, set_rng_state
from peclip.train.run import RunFolder
from peclip.train.schedule import set_epoch_lr

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    selection: str
    selected: dict  # test metrics of the selected model, with its epoch
    last: dict  # test metrics of the last epoch
    results: dict  # everything written to results.json


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_run_dir(recipe: Recipe) -> Path:
    name = recipe.run.name or f"{recipe.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return Path(recipe.run.output_dir) / name


def stratified_split(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """``(train, val)``: ``fraction`` of each class (at least one clip, if the class has two) goes to val."""
    rng = np.random.default_rng([seed, 7919])
    by_class: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_class.setdefault(item.label, []).append(i)
    val_idx: set[int] = set()
    for label in sorted(by_class):
        members = by_class[label]
        take = int(round(fraction * len(members)))
        take = min(max(take, 1 if len(members) > 1 else 0), len(members) - 1)
        val_idx.update(rng.permutation(members)[:take].tolist())
    train = [it for i, it in enumerate(items) if i not in val_idx]
    val = [it for i, it in enumerate(items) if i in val_idx]
    if not val:
        raise ValueError("the validation split is empty: too few training clips per class for train.val_fraction; "
                         "raise train.val_fraction or use train.selection=last")
    return train, val


def build_model(recipe: Recipe):
    """The model of ``recipe.model`` with its runtime options, and trainable weights from
    ``train.init_from`` when set (AFEW, docs/spec.md 3.2)."""
    section = recipe.model
    # Seeded construction: a backbone without pretrained weights is then the same random CLIP in every
    # process and again at evaluation time (its checkpoint records init_seed; see peclip.load).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = create_model(section.name, pretrained=section.pretrained, **section.overrides)
    model.runtime = section.runtime
    if recipe.train.init_from:
        source = resolve_checkpoint(recipe.train.init_from)
        _load_trainable(model, source)
        log.info("trainable weights initialised from %s", source)
    return model


def _load_trainable(model, checkpoint: Path) -> None:
    load_trainable_state(model, load_file(str(checkpoint / WEIGHTS_FILE)), str(checkpoint))


def resolve_data_config(recipe: Recipe, run: RunFolder, info: distributed.DistInfo) -> DataConfig:
    """The data config, with the synthetic dataset generated into the run folder when the recipe asks for one."""
    cfg = recipe.data
    if recipe.synthetic is None:
        return cfg
    root = run.path / "synthetic"
    s = recipe.synthetic
    if s.task == "stills":
        if info.is_main and not (root / "manifest.csv").is_file():
            write_shape_dataset(root, s.num_train, s.num_test, s.still_spec(), s.seed)
        distributed.barrier(info)
        return dataclasses.replace(cfg, dataset="custom", root=None, manifest=str(root / "manifest.csv"),
                                   test_manifest=None, fold=None)
    if info.is_main and not (root / "test.txt").is_file():
        write_motion_dataset(root, s.num_train, s.num_test, s.spec(), s.seed)
    distributed.barrier(info)
    return dataclasses.replace(cfg, dataset="custom", root=None, manifest=str(root / "train.txt"),
                               test_manifest=str(root / "test.txt"), fold=None)


def _per_rank_batch(t, info: distributed.DistInfo) -> int:
    per_rank, rest = divmod(t.batch_size, info.world_size * t.grad_accum)
    if rest or per_rank < 1:
        raise ValueError(f"train.batch_size={t.batch_size} must be a multiple of processes x grad_accum = "
                         f"{info.world_size} x {t.grad_accum}")
    return per_rank


def read_items(recipe: Recipe, cfg, info: distributed.DistInfo) -> tuple[list, list | None, list, dict]:
    """``(train, val, test, static)`` items, scanned on rank 0 and sent to every rank (val only for
    selection val). ``static`` maps each co-training static set's name to its ``(train, test or None)``."""
    t = recipe.train

    def read():
        # captions alone need no labels (docs/text-supervision.md); evaluation always does
        train_items = load_dataset_items(cfg, "train", cfg.fold, progress=t.progress,
                                         allow_unlabelled=t.captions.mode == "only")
        test_items = load_dataset_items(cfg, "test", cfg.fold, progress=t.progress)
        val_items = None
        if t.selection == "val":
            train_items, val_items = stratified_split(train_items, t.val_fraction, t.seed)
        static = {}
        for s in recipe.cotrain.static if recipe.cotrain else ():
            static[s.name] = (load_dataset_items(s.data, "train", s.data.fold, progress=t.progress),
                              load_dataset_items(s.data, "test", s.data.fold, progress=t.progress)
                              if s.evaluate else None)
        return train_items, val_items, test_items, static

    return distributed.on_main(read, info)


def _loaders(recipe: Recipe, cfg, items, model, info: distributed.DistInfo, run: RunFolder,
             teacher: Teacher | None = None):
    t = recipe.train
    per_rank = _per_rank_batch(t, info)
    train_items, val_items, test_items, _ = items
    num_classes = model.config.num_classes
    for name, items_ in (("train", train_items), ("test", test_items)):
        check_labels(items_, num_classes, f"the {name} split")
    train_ds = ClipDataset(train_items, cfg, train=True, seed=t.seed, captions=t.captions.enabled)
    if teacher is not None:
        train_ds = _with_teacher_cache(recipe, cfg, train_ds, teacher, run, info)
    sampler = DistributedSampler(train_ds, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=t.seed)
    train_loader = build_dataloader(train_ds, per_rank, train=True, sampler=sampler, seed=t.seed)
    eval_bs = t.eval_batch_size or max(1, t.batch_size // info.world_size)

    def eval_loader(items, data_cfg=cfg):
        dataset = ClipDataset(items, data_cfg, train=False, seed=t.seed)
        shard = distributed.ShardSampler(len(dataset), info.rank, info.world_size)
        return build_dataloader(dataset, eval_bs, train=False, sampler=shard)

    test_loader = eval_loader(test_items)
    val_loader = eval_loader(val_items) if val_items is not None else None
    log.info("data: %d train clips, %s%d test clips; %d clip(s) per process per forward pass", len(train_items),
             f"{len(val_items)} validation clips, " if val_items else "", len(test_items), per_rank)
    static_evals = {}
    if recipe.cotrain is not None:
        train_loader, static_evals = _cotrain_loaders(recipe, train_ds, items[3], model, info, per_rank, eval_loader)
    return train_loader, val_loader, test_loader, [str(i.path) for i in test_items], static_evals


def _cotrain_loaders(recipe: Recipe, video_ds, static_items: dict, model, info, per_rank: int, eval_loader):
    """The co-training train loader (one domain per batch, S4D repeat factors) and the static sets'
    test loaders (those with ``evaluate``). Static labels are remapped onto the model's classes by name:
    the text classifier unifies the label spaces; images of a class the model lacks are left out."""
    t, c = recipe.train, recipe.cotrain
    datasets, names, repeats, labels, evals = [video_ds], ["video"], [c.video_repeat], [None], {}
    for s in c.static:
        data_cfg = check_compatible(model, s.data)
        # A model with its own class names reads label indices as they are; a label-set model takes
        # each static set's labels by class name.
        classes = (list(model.class_names) if model.config.classes is not None
                   else list(get_label_set(data_cfg.label_set).classes))
        train_items, test_items = static_items[s.name]
        train_items = remap_to_classes(train_items, classes, model.class_names, s.name)
        check_labels(train_items, len(model.class_names), f"the train split of static set {s.name}")
        datasets.append(ClipDataset(train_items, data_cfg, train=True, seed=t.seed))
        names.append(s.name)
        repeats.append(s.repeat)
        labels.append([i.label for i in train_items] if s.balance == "classes" else None)
        if test_items is not None:
            evals[s.name] = eval_loader(remap_to_classes(test_items, classes, model.class_names, s.name), data_cfg)
    dataset = DomainDataset(datasets, names)
    sampler = DomainBatchSampler(dataset.sizes, repeats, per_rank, seed=t.seed, rank=info.rank,
                                 world_size=info.world_size, names=names, grad_accum=t.grad_accum, labels=labels)
    counts = ", ".join(f"{n} {b} batches ({r:g} x {len(d)}{', balanced by class' if y is not None else ''})"
                       for n, b, r, d, y in zip(names, sampler.batches_per_domain(), repeats, datasets, labels,
                                                strict=True))
    log.info("co-training: %s per epoch; heads %s", counts, model.config.heads)
    return build_domain_loader(dataset, sampler, recipe.data.num_workers, recipe.data.pin_memory), evals


#: optimizer group (a name of ``model.param_groups()``) -> the TrainConfig field with its learning rate
GROUP_LR = {"adapters": "lr_adapters", "prompts": "lr_prompts", "trunks": "lr", "head": "lr"}


def _with_teacher_cache(recipe: Recipe, cfg, train_ds: ClipDataset, teacher: Teacher, run: RunFolder,
                        info: distributed.DistInfo):
    """The training dataset with cached teacher logits when its clips are deterministic, else as it is."""
    t = recipe.train
    mixing = (cfg.mix_prob_mixup + cfg.mix_prob_fmix) > 0
    deterministic, why = clips_are_deterministic(train_ds, mixing)
    if t.distill.cache == "off" or not deterministic:
        log.info("teacher logits on the fly: %s", why or "train.distill.cache=off")
        return train_ds
    logits = teacher_cache(teacher, train_ds, run.path, info, t.eval_batch_size or t.batch_size, t.progress)
    return WithTeacherLogits(train_ds, logits)


def _optimizer(model, t, caption_loss: CaptionContrastiveLoss | None = None) -> torch.optim.Optimizer:
    groups = []
    for name, params in model.param_groups().items():
        if name not in GROUP_LR:
            raise ValueError(f"the model's parameter group {name!r} has no learning-rate setting; known groups: "
                             f"{', '.join(GROUP_LR)}")
        lr = getattr(t, GROUP_LR[name])
        if params:
            groups.append({"params": params, "lr": lr, "initial_lr": lr, "name": name})
    if not groups:
        raise ValueError("the model has no trainable parameters (prompts and adapters all disabled)")
    if caption_loss is not None and list(caption_loss.parameters()):
        # the learnable caption temperature: the adapters' rate, no weight decay (CLIP's logit_scale)
        groups.append({"params": list(caption_loss.parameters()), "lr": t.lr_adapters, "initial_lr": t.lr_adapters,
                       "name": "caption_temperature", "weight_decay": 0.0})
    return torch.optim.AdamW(groups, betas=tuple(t.betas), eps=t.eps, weight_decay=t.weight_decay)


def _caption_loss(recipe: Recipe, model, cfg, items, device) -> CaptionContrastiveLoss | None:
    """The caption loss of ``train.captions`` after checking that the data fits it, or None when off."""
    c = recipe.train.captions
    if not c.enabled:
        return None
    if cfg.mix_prob_mixup + cfg.mix_prob_fmix > 0:
        raise ValueError("caption training pairs each clip with its own caption, which Mixup/FMix would mix "
                         "away: set data.mix_prob_mixup=0 and data.mix_prob_fmix=0")
    train_items = items[0]
    if c.mode == "added":
        unlabelled = [i for i in train_items if i.label < 0]
        if unlabelled:
            raise ValueError(f"train.captions.mode=added also trains on labels, but {len(unlabelled)} training "
                             f"clip(s) have none (e.g. {unlabelled[0].source}); use mode=only for label-free "
                             "training")
    check_captions(train_items, "the training split")
    for item in train_items:  # every caption must fit the text context, before the first step
        try:
            model.tokenize_captions([item.caption])
        except ValueError as err:
            raise ValueError(f"{item.source}: {err}") from None
    return CaptionContrastiveLoss(c.temperature, c.learn_temperature).to(device)


class _Logs:
    """log.txt (and TensorBoard) for the duration of a run, on the main process."""

    def __init__(self, run: RunFolder, tensorboard: bool):
        self.handler = None
        self.writer = None
        if not run.writer:
            return
        self.handler = logging.FileHandler(run.path / "log.txt", encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("peclip").addHandler(self.handler)
        if tensorboard:
            if importlib.util.find_spec("tensorboard") is not None:
                from torch.utils.tensorboard import SummaryWriter  # optional dependency: imported only when present

                self.writer = SummaryWriter(str(run.path / "tensorboard"))
            else:
                log.info("tensorboard is not installed; metrics go to metrics.csv only")

    def scalars(self, row: dict, epoch: int) -> None:
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    self.writer.add_scalar(key, value, epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.handler is not None:
            logging.getLogger("peclip").removeHandler(self.handler)
            self.handler.close()


def train(recipe: Recipe, run_dir: str | Path | None = None, resume: bool = False,
          dist_info: distributed.DistInfo | None = None) -> TrainResult:
    """Train ``recipe`` into ``run_dir`` (default ``run.output_dir/run.name``); ``resume`` continues a run
    from its last checkpoint (model, optimizer, epoch, RNG states) and gives the same result as an
    unbroken run."""
    info = dist_info or distributed.setup(recipe.train.device)
    try:
        return _train(recipe, run_dir, resume, info)
    finally:
        if dist_info is None:
            distributed.cleanup(info)


def _train(recipe: Recipe, run_dir, resume: bool, info: distributed.DistInfo) -> TrainResult:
    run_dir = Path(run_dir) if run_dir is not None else distributed.broadcast_object(default_run_dir(recipe), info)
    run = RunFolder(run_dir, writer=info.is_main)
    started = distributed.broadcast_object(run.has_started(), info)
    if resume and not started:
        raise FileNotFoundError(f"cannot resume: {run_dir} is not a run folder (no config.yaml)")
    if not resume and started:
        raise ValueError(f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} "
                         "or choose another name (--name / run.name)")
    _per_rank_batch(recipe.train, info)
    # The data is read and checked before the run folder is created: a bad path or dataset fails fast
    # and leaves no half-made run behind.
    recipe.data.check_against(recipe.model.resolve().num_frames)
    cfg = resolve_data_config(recipe, run, info)
    items = read_items(recipe, cfg, info)
    if not resume:
        run.create(dump_recipe(recipe))
        run.record_faces(cfg.manifest)
    distributed.barrier(info)
    logs = _Logs(run, recipe.run.tensorboard)
    try:
        return _fit(recipe, run, resume, info, logs, cfg, items)
    finally:
        logs.close()


@dataclass
class _Fit:
    """What every epoch of a run needs: the model and its wrapper, optimizer, loaders, selection state."""

    model: torch.nn.Module
    net: torch.nn.Module  # model, or its DDP / torch.compile wrapper
    optimizer: torch.optim.Optimizer
    precision: str
    train_loader: object
    select_loader: object
    select_split: str
    test_loader: object
    test_paths: list
    mix_cfg: DataConfig | None
    start_epoch: int = 0
    best: dict | None = None
    caption_loss: CaptionContrastiveLoss | None = None
    static_evals: dict = dataclasses.field(default_factory=dict)  # co-training: name -> test loader
    domains: list | None = None  # co-training: domain names by index
    distiller: Distiller | None = None


def _fit(recipe: Recipe, run: RunFolder, resume: bool, info: distributed.DistInfo, logs: _Logs, cfg,
         items) -> TrainResult:
    t = recipe.train
    fit = _setup_fit(recipe, run, resume, info, cfg, items)
    history_eval = None
    for epoch in range(fit.start_epoch, t.epochs):
        history_eval = _run_epoch(recipe, run, info, logs, fit, epoch)
    return _finish(recipe, run, fit.model, info, fit.precision, fit.test_loader, fit.test_paths, fit.best,
                   history_eval if fit.select_split == "test" else None)


def _setup_fit(recipe: Recipe, run: RunFolder, resume: bool, info: distributed.DistInfo, cfg, items) -> _Fit:
    t = recipe.train
    device = info.device
    precision = resolve_precision(t.precision, device)
    seed_everything(t.seed)
    log.info("run %s: recipe %s, %d process(es) on %s, precision %s, selection %s", run.path, recipe.name,
             info.world_size, device, precision, t.selection)
    spec = DATASETS.get(recipe.data.dataset)
    if spec is not None and spec.fine_tune_from and not t.init_from:
        log.warning("the %s recipe fine-tunes %s (docs/spec.md 3.2); set train.init_from=RUN_OR_CHECKPOINT",
                    spec.name, spec.fine_tune_from)
    model = build_model(recipe)
    cfg = check_compatible(model, cfg)
    teacher = Teacher(t.distill, model, device, precision) if t.distill.enabled else None
    train_loader, val_loader, test_loader, test_paths, static_evals = _loaders(recipe, cfg, items, model, info, run,
                                                                               teacher)
    model.to(device)
    caption_loss = _caption_loss(recipe, model, cfg, items, device)
    optimizer = _optimizer(model, t, caption_loss)
    start_epoch, best = 0, None
    if resume:
        last = run.last_checkpoint()
        if last is not None:
            start_epoch, best = _restore(model, optimizer, last, device, caption_loss)
            log.info("resuming %s after epoch %d (from %s)", run.path, start_epoch - 1, last)
        else:
            log.info("resuming %s: no checkpoint yet, starting at epoch 0", run.path)
    net = model
    if info.enabled:
        # Parameters a step may leave without a gradient: the class-text path (and PN's negative bank)
        # when training on captions alone, the other domain's head, a skipped TDA on a still batch, MoAE
        # experts no token was routed to.
        unused = t.captions.mode == "only" or recipe.cotrain is not None or model.may_skip_parameters
        model = sync_batchnorm(model, device, t.sync_batchnorm)
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused)
    if t.compile:
        net = torch.compile(net)
    return _Fit(model, net, optimizer, precision, train_loader,
                select_loader={"val": val_loader}.get(t.selection, test_loader),
                select_split="val" if t.selection == "val" else "test", test_loader=test_loader,
                test_paths=test_paths, mix_cfg=cfg if (cfg.mix_prob_mixup + cfg.mix_prob_fmix) > 0 else None,
                start_epoch=start_epoch, best=best, caption_loss=caption_loss, static_evals=static_evals,
                domains=train_loader.dataset.names if recipe.cotrain is not None else None,
                distiller=Distiller(teacher) if teacher is not None else None)


def sync_batchnorm(model: torch.nn.Module, device: torch.device, enabled: bool) -> torch.nn.Module:
    """``model`` with its BatchNorm layers synchronised across DDP processes on CUDA (``train.sync_batchnorm``).

    The layers are swapped in place, so parameters, buffers and checkpoint keys stay the same. On the CPU
    torch has no SyncBatchNorm: each process keeps its own batch statistics, which is logged.
    """
    if not enabled or not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model
    if device.type != "cuda":
        log.info("BatchNorm layers use each process's own batch statistics: torch has no SyncBatchNorm on the "
                 "CPU (results differ slightly from one process with the same global batch)")
        return model
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


def _run_epoch(recipe: Recipe, run: RunFolder, info: distributed.DistInfo, logs: _Logs, fit: _Fit,
               epoch: int) -> EvalOutput | None:
    """Train one epoch, evaluate when due, write checkpoints and metrics; the evaluation (or None)."""
    t, model, optimizer = recipe.train, fit.model, fit.optimizer
    lrs = set_epoch_lr(optimizer, epoch, t.schedule)
    set_loader_epoch(fit.train_loader, epoch)
    try:
        stats = train_one_epoch(fit.net, fit.train_loader, optimizer, epoch=epoch, device=info.device,
                                precision=fit.precision, mix_cfg=fit.mix_cfg, seed=t.seed, grad_accum=t.grad_accum,
                                clip_grad_norm=t.clip_grad_norm, max_steps=t.max_steps_per_epoch,
                                dist_info=info, progress=t.progress, caption_loss=fit.caption_loss,
                                caption_weight=t.captions.caption_weight,
                                classification_weight=t.captions.classification_weight, domains=fit.domains,
                                distiller=fit.distiller)
    except NonFiniteLossError as err:
        log.error("%s", err)
        raise
    row = {"epoch": epoch, **{f"lr_{g['name']}": lr for g, lr in zip(optimizer.param_groups, lrs, strict=True)},
           "train_loss": stats.loss, "train_acc": stats.accuracy, "clips_per_s": stats.clips_per_second,
           "train_seconds": stats.seconds}
    if fit.caption_loss is not None:
        row.update({"train_caption_loss": stats.caption_loss,
                    "caption_scale": float(fit.caption_loss.scale().detach())})
    for name, d in stats.domains.items():  # co-training: per-domain training metrics
        row.update({f"train_loss_{name}": d["loss"], f"train_acc_{name}": d["accuracy"],
                    f"train_clips_{name}": d["clips"]})
    evaluated = (epoch + 1) % t.eval_every == 0 or epoch == t.epochs - 1
    output = None
    if evaluated:
        output = evaluate(model, fit.select_loader, device=info.device, precision=fit.precision,
                          num_classes=model.config.num_classes, dist_info=info, progress=t.progress,
                          desc=f"eval {fit.select_split}")
        m = output.metrics()
        row.update({"eval_split": fit.select_split, "eval_loss": m["loss"], "eval_uar": m["uar"],
                    "eval_war": m["war"]})
        for name, loader in fit.static_evals.items():  # co-training: each evaluated static set's test split
            sm = evaluate(model, loader, device=info.device, precision=fit.precision,
                          num_classes=model.config.num_classes, dist_info=info, progress=t.progress,
                          desc=f"eval {name}").metrics()
            row.update({f"eval_{name}_loss": sm["loss"], f"eval_{name}_uar": sm["uar"], f"eval_{name}_war": sm["war"]})
        if t.selection != "last":
            value = m[t.select_metric]
            if fit.best is None or value > fit.best["value"]:
                fit.best = {"epoch": epoch, "value": value, "metric": t.select_metric, "split": fit.select_split}
                if info.is_main:
                    write_checkpoint(run.best, model, {"epoch": epoch, "selection": t.selection,
                                                       "selected_on": fit.select_split, "metrics": m,
                                                       "init_seed": t.seed})
    if info.is_main:
        state = {"epoch": epoch, "optimizer": optimizer.state_dict(), "best": fit.best, "rng": rng_state(),
                 "world_size": info.world_size}
        if fit.caption_loss is not None:
            state["caption_loss"] = {k: v.detach().cpu() for k, v in fit.caption_loss.state_dict().items()}
        write_checkpoint(run.last, model, {"epoch": epoch, "selection": "last", "init_seed": t.seed}, state)
        run.append_metrics(row)
        logs.scalars(row, epoch)
    distributed.barrier(info)
    summary = (f"epoch {epoch}/{t.epochs - 1}: train loss {stats.loss:.4f} acc {stats.accuracy:.2f}% "
               f"({stats.clips_per_second:.1f} clips/s, {stats.seconds:.0f} s)")
    for name, d in stats.domains.items():
        summary += f"; {name} loss {d['loss']:.4f} acc {d['accuracy']:.2f}%"
    if evaluated:
        summary += f"; {fit.select_split} UAR {row['eval_uar']:.2f} WAR {row['eval_war']:.2f}"
        for name in fit.static_evals:
            summary += f"; {name} test UAR {row[f'eval_{name}_uar']:.2f} WAR {row[f'eval_{name}_war']:.2f}"
    log.info("%s", summary)
    return output


def _restore(model, optimizer, last: Path, device, caption_loss=None) -> tuple[int, dict | None]:
    _load_trainable(model, last)
    state = read_training_state(last)
    if caption_loss is not None:
        if "caption_loss" not in state:
            raise ValueError(f"{last} was written by a run without caption training; resume it with "
                             "train.captions.mode=off")
        caption_loss.load_state_dict(state["caption_loss"])
    optimizer.load_state_dict(state["optimizer"])
    for group_state in optimizer.state.values():
        for key, value in group_state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                group_state[key] = value.to(device)
    set_rng_state(state["rng"])
    return int(state["epoch"]) + 1, state.get("best")


def _finish(recipe: Recipe, run: RunFolder, model, info, precision, test_loader, test_paths, best,
            last_test) -> TrainResult:
    t = recipe.train
    num_classes = model.config.num_classes
    device = info.device
    if last_test is None:
        last_test = evaluate(model, test_loader, device=device, precision=precision, num_classes=num_classes,
                             dist_info=info, progress=t.progress, desc="eval test (last)")
    last = {"epoch": t.epochs - 1, **last_test.metrics()}
    selected_output, selected = last_test, dict(last)
    if t.selection != "last":
        if best is None:
            raise RuntimeError(f"selection {t.selection!r} found no evaluated epoch; check train.eval_every")
        best_dir = checkpoint_dir(run.best)
        if best_dir is None:
            raise FileNotFoundError(f"the best checkpoint {run.best} is missing; the run folder is incomplete")
        _load_trainable(model, best_dir)
        selected_output = evaluate(model, test_loader, device=device, precision=precision, num_classes=num_classes,
                                   dist_info=info, progress=t.progress, desc="eval test (selected)")
        selected = {"epoch": best["epoch"], **selected_output.metrics()}
    results = {"recipe": recipe.name, "dataset": recipe.data.dataset, "fold": recipe.data.fold,
               "selection": t.selection, "select_metric": t.select_metric if t.selection != "last" else None,
               "selected": selected, "last": last, "epochs": t.epochs, "world_size": info.world_size,
               "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    if info.is_main:
        write_report(run.eval_dir, selected_output, model.class_names,
                     {"selection": t.selection, "epoch": selected["epoch"], "split": "test"}, test_paths)
        run.write_results(results)
    log.info("test: %s", describe(selected, t.selection, selected["epoch"]))
    if t.selection != "last":
        log.info("test: %s", describe(last, "last", last["epoch"]))
    distributed.barrier(info)
    return TrainResult(run.path, t.selection, selected, last, results)
