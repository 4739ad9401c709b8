"""Training recipes: YAML files with ``model``, ``data``, ``train``, ``run`` (and ``synthetic``) sections.

A recipe is a built-in name (``dfew``, ``ferv39k``, ``mafw``, ``afew``, ``synthetic``; the YAML files
in ``peclip/recipes/``) or a path to a YAML file. A recipe may start from another with ``base: NAME``.
Dotted overrides (``train.lr_adapters=1e-4``) are merged on top, then every section is validated:
an unknown key is an error that lists the valid ones. The resolved recipe (``to_dict``) is what a
run folder keeps as ``config.yaml``; :func:`load_recipe` on that file gives the same recipe back.

Defaults are docs/spec.md 3.1's (the official ``FERPAmainmxp.py``), with 30 epochs (docs/spec.md 10 A4).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from peclip.config import PRECISIONS, ModelConfig, RuntimeOptions, merge_overrides
from peclip.data.config import DataConfig
from peclip.data.synthetic import MotionSpec, ShapeSpec
from peclip.factory import resolve_config
from peclip.train.distill import DistillConfig
from peclip.train.schedule import ScheduleConfig
from peclip.validation import check_choice, check_number, check_positive_int, from_dict

log = logging.getLogger(__name__)

SELECTIONS = ("last", "val", "test")
SELECT_METRICS = ("war", "uar")
SECTIONS = ("base", "model", "data", "train", "run", "synthetic", "expected", "cotrain")
SYNTHETIC_TASKS = ("motion", "stills")


@dataclass
class ModelSection:
    """Which model to train: a built-in name (``peclip.list_models()``), its CLIP weights, and config overrides.

    ``overrides`` are ModelConfig fields, nested or dotted (``{"temporal.per_video": False}``).
    ``pretrained``: an open_clip tag (``openai``), a local weights file, or ``none`` for random CLIP
    weights (tests, synthetic data). ``runtime``: :class:`~peclip.config.RuntimeOptions` (e.g.
    ``model.runtime.grad_checkpointing: true``), recorded with every checkpoint of the run.
    """

    name: str = "peclip-vit-b16"
    pretrained: str | None = "openai"
    overrides: dict = field(default_factory=dict)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"model.name={self.name!r} must be a built-in model name, e.g. peclip-vit-b16")
        if self.pretrained in ("none", "", None):
            self.pretrained = None
        if not isinstance(self.overrides, dict):
            raise ValueError(f"model.overrides={self.overrides!r} must be a mapping of ModelConfig fields")
        if isinstance(self.runtime, dict):
            self.runtime = RuntimeOptions.from_dict(self.runtime)

    def resolve(self) -> ModelConfig:
        """The validated :class:`~peclip.config.ModelConfig` (no weights are built)."""
        return resolve_config(self.name, **self.overrides)


CAPTION_MODES = ("off", "only", "added")


@dataclass
class CaptionTraining:
    """Caption-supervised training (FineCLIPER; docs/text-supervision.md), ``train.captions``.

    - ``mode``: ``off`` (PE-CLIP: labels only), ``only`` (captions alone, no labels needed: the symmetric
      video-caption InfoNCE), ``added`` (cross-entropy plus ``weight`` times the InfoNCE).
    - ``weight``: weight of the contrastive term in ``added`` mode.
    - ``temperature``: the InfoNCE temperature (its start value when learnable); CLIP's 0.07.
    - ``learn_temperature``: train the temperature (CLIP's learnable ``logit_scale``, capped at 100) or fix it.

    Captions come from a ``caption`` column of a CSV manifest or a sidecar JSON (``data.captions``).
    """

    mode: str = "off"
    weight: float = 1.0
    temperature: float = 0.07
    learn_temperature: bool = True

    def __post_init__(self) -> None:
        check_choice("train.captions", "mode", self.mode, CAPTION_MODES)
        self.weight = check_number("train.captions", "weight", self.weight)
        self.temperature = check_number("train.captions", "temperature", self.temperature)
        if not self.temperature > 0:
            raise ValueError(f"train.captions.temperature={self.temperature!r} must be > 0 (CLIP's: 0.07)")
        if not isinstance(self.learn_temperature, bool):
            raise ValueError(f"train.captions.learn_temperature={self.learn_temperature!r} must be true or false")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def classification_weight(self) -> float:
        return 0.0 if self.mode == "only" else 1.0

    @property
    def caption_weight(self) -> float:
        return 1.0 if self.mode == "only" else self.weight


@dataclass
class TrainConfig:
    """Optimisation, precision, model selection (docs/spec.md 3.1; AFEW 3.2).

    ``batch_size`` is the number of clips per optimizer step over all processes; each process loads
    ``batch_size / (world_size * grad_accum)`` clips per forward pass.
    """

    epochs: int = 30
    batch_size: int = 4
    eval_batch_size: int | None = None  # None: batch_size
    grad_accum: int = 1
    lr_adapters: float = 2e-4
    lr_prompts: float = 3e-5
    lr: float = 1e-3  # every parameter group of a fully trainable (light) model: trunks and head
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    captions: CaptionTraining = field(default_factory=CaptionTraining)
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    clip_grad_norm: float | None = None
    seed: int = 42
    init_from: str | None = None  # a checkpoint or run folder whose trainable weights start the run (AFEW)
    selection: str = "last"  # last | val | test (the official protocol, docs/spec.md 10 A6)
    select_metric: str = "war"  # the official code keeps the epoch of best top-1 accuracy (WAR)
    val_fraction: float = 0.1  # share of each class carved from train when selection == "val"
    eval_every: int = 1
    max_steps_per_epoch: int | None = None  # stop each epoch early (smoke tests, quick looks)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    progress: bool = True
    distill: DistillConfig = field(default_factory=DistillConfig)  # train against a teacher's soft labels
    # BatchNorm layers (the light models' trunks and head) normalise with the statistics of the whole
    # global batch under DDP on CUDA, as one process would; False keeps each process's own statistics.
    # torch has no SyncBatchNorm on the CPU, so CPU DDP always keeps per-process statistics (logged).
    sync_batchnorm: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum", "eval_every"):
            check_positive_int("train", name, getattr(self, name))
        for name in ("eval_batch_size", "max_steps_per_epoch"):
            if getattr(self, name) is not None:
                check_positive_int("train", name, getattr(self, name))
        if self.batch_size % self.grad_accum:
            raise ValueError(f"train.batch_size={self.batch_size} is not divisible by train.grad_accum="
                             f"{self.grad_accum}; the batch is split into grad_accum equal micro-batches")
        self.lr_adapters = check_number("train", "lr_adapters", self.lr_adapters)
        self.lr_prompts = check_number("train", "lr_prompts", self.lr_prompts)
        self.lr = check_number("train", "lr", self.lr)
        if isinstance(self.distill, dict):
            self.distill = from_dict(DistillConfig, self.distill, "train.distill")
        self.weight_decay = check_number("train", "weight_decay", self.weight_decay)
        self.eps = check_number("train", "eps", self.eps)
        if (not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas)):
            raise ValueError(f"train.betas={self.betas!r} must be two numbers in [0, 1), e.g. [0.9, 0.999]")
        self.betas = [float(b) for b in self.betas]
        if isinstance(self.schedule, dict):
            self.schedule = from_dict(ScheduleConfig, self.schedule, "train.schedule")
        if isinstance(self.captions, dict):
            self.captions = from_dict(CaptionTraining, self.captions, "train.captions")
        check_choice("train", "precision", self.precision, PRECISIONS)
        check_choice("train", "selection", self.selection, SELECTIONS)
        check_choice("train", "select_metric", self.select_metric, SELECT_METRICS)
        if self.clip_grad_norm is not None:
            self.clip_grad_norm = check_number("train", "clip_grad_norm", self.clip_grad_norm)
        if not isinstance(self.sync_batchnorm, bool):
            raise ValueError(f"train.sync_batchnorm={self.sync_batchnorm!r} must be true or false")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"train.seed={self.seed!r} must be an integer")
        if not (isinstance(self.val_fraction, (int, float)) and 0 < self.val_fraction < 1):
            raise ValueError(f"train.val_fraction={self.val_fraction!r} must lie strictly between 0 and 1")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"train.device={self.device!r} is not valid; use auto, cpu, cuda or cuda:N")


@dataclass
class RunSection:
    """Where the run folder goes: ``output_dir/name`` (name defaults to ``<recipe>-<date>-<time>``)."""

    name: str | None = None
    output_dir: str = "runs"
    tensorboard: bool = True  # write TensorBoard events when the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.name is not None and (not isinstance(self.name, str) or not self.name or "/" in self.name):
            raise ValueError(f"run.name={self.name!r} must be a non-empty folder name without '/'")


@dataclass
class SyntheticSection:
    """Generate a synthetic task (:mod:`peclip.data.synthetic`) into the run folder and train on it.

    ``task``: ``motion`` (a moving square, the class is its direction: only a temporal model can tell;
    frame folders) or ``stills`` (a shape, the class is visible in one image; a folder-per-class tree of
    PNG images, read as the ``folders`` still set). ``num_frames`` is used by ``motion`` only.
    """

    num_classes: int = 2
    num_frames: int = 8
    size: int = 32
    num_train: int = 64
    num_test: int = 32
    colours: str = "fixed"
    seed: int = 0
    task: str = "motion"

    def __post_init__(self) -> None:
        for name in ("num_train", "num_test"):
            check_positive_int("synthetic", name, getattr(self, name))
        check_choice("synthetic", "task", self.task, SYNTHETIC_TASKS)
        if self.task == "stills":
            self.still_spec()
        else:
            self.spec()  # validates the rest

    def spec(self) -> MotionSpec:
        return MotionSpec(self.num_classes, self.num_frames, self.size, colours=self.colours)

    def still_spec(self) -> ShapeSpec:
        return ShapeSpec(self.num_classes, self.size, colours=self.colours)


#: how a co-training static set's samples are drawn (StaticSet.balance)
STATIC_BALANCE = ("none", "classes")


@dataclass
class StaticSet:
    """One static (still-image) set mixed into a video run: its data, its domain name in the logs, its
    S4D repeat factor (samples per epoch = ``repeat`` x its size), how its samples are drawn
    (``balance``: ``none``, shuffled passes; ``classes``, each class equally likely per draw, S4D's
    imbalance-aware sampler for AffectNet) and whether its test split is evaluated each time the
    video test split is (``eval_<name>_uar`` / ``_war`` in the metrics)."""

    data: DataConfig = field(default_factory=DataConfig)
    name: str | None = None
    repeat: float = 0.5
    balance: str = "none"
    evaluate: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = DataConfig.from_dict(self.data)
        self.name = self.name or self.data.dataset
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", self.name) or self.name == "video":
            raise ValueError(f"cotrain.static name {self.name!r} must be letters, digits, '_' or '-' and not 'video'")
        self.repeat = check_number("cotrain.static", "repeat", self.repeat)
        if self.repeat <= 0:
            raise ValueError(f"cotrain.static {self.name}: repeat={self.repeat} must be > 0 (S4D: 0.5)")
        check_choice(f"cotrain.static {self.name}", "balance", self.balance, STATIC_BALANCE)


@dataclass
class CotrainSection:
    """Static-for-dynamic co-training (S4D, arXiv 2409.06154; docs/stills.md): ``static`` sets trained
    beside the video set of ``data``, one domain per batch, each domain giving ``repeat`` x its size
    samples per epoch (``video_repeat`` for the videos; S4D: 1.0 and 0.5). The classifier is the
    model's (``model.overrides.heads``: ``shared`` text classifier, or ``separate`` image/video heads)."""

    static: list = field(default_factory=list)
    video_repeat: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.static, list) or not self.static:
            raise ValueError("cotrain.static must list at least one static set, e.g. "
                             "[{name: rafdb, repeat: 0.5, data: {dataset: rafdb, root: ...}}]")
        self.static = [s if isinstance(s, StaticSet) else from_dict(StaticSet, s, f"cotrain.static[{i}]")
                       for i, s in enumerate(self.static)]
        names = [s.name for s in self.static]
        if len(set(names)) != len(names):
            raise ValueError(f"cotrain.static names must differ, got {names}; set name: for each")
        self.video_repeat = check_number("cotrain", "video_repeat", self.video_repeat)
        if self.video_repeat <= 0:
            raise ValueError(f"cotrain.video_repeat={self.video_repeat} must be > 0 (S4D: 1.0)")


@dataclass
class ExpectedSection:
    """The numbers a recipe should reproduce (percent), where they come from, and under what protocol.

    ``uar``/``war`` are None where nothing is published (MAFW for PE-CLIP); ``source`` says so.
    """

    uar: float | None = None
    war: float | None = None
    source: str = ""
    protocol: str = ""
    selection: str | None = None  # the model selection behind the numbers (the paper's: test)

    def __post_init__(self) -> None:
        if self.selection is not None:
            check_choice("expected", "selection", self.selection, SELECTIONS)
        for name in ("uar", "war"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                          and 0 <= value <= 100):
                raise ValueError(f"expected.{name}={value!r} must be a percentage in [0, 100] or null")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError("expected.source must say where the expected numbers come from (or that there are none)")


@dataclass
class Recipe:
    """A whole training recipe. ``data`` is a :class:`peclip.data.config.DataConfig`."""

    name: str
    model: ModelSection
    data: DataConfig
    train: TrainConfig
    run: RunSection
    synthetic: SyntheticSection | None = None
    expected: ExpectedSection | None = None
    cotrain: CotrainSection | None = None

    def to_dict(self) -> dict:
        """Plain data (YAML-ready); loading it gives the same recipe."""
        out = {"name": self.name, "model": dataclasses.asdict(self.model), "data": dataclasses.asdict(self.data),
               "train": dataclasses.asdict(self.train), "run": dataclasses.asdict(self.run),
               "synthetic": dataclasses.asdict(self.synthetic) if self.synthetic else None,
               "expected": dataclasses.asdict(self.expected) if self.expected else None,
               "cotrain": dataclasses.asdict(self.cotrain) if self.cotrain else None}
        return _plain(out)

    def with_overrides(self, overrides: dict) -> Recipe:
        return recipe_from_dict(merge_overrides(self.to_dict(), _coerce_numbers(overrides)), self.name)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------- loading

class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string; here any number with an exponent is a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.\d*|\d+|\.\d+)[eE][-+]?\d+$|^[-+]?\d+\.\d*$|^[-+]?\.\d+$"),
    list("-+0123456789."),
)


def _coerce_numbers(overrides: dict) -> dict:
    """``--set`` values such as ``1e-4`` come in as strings (YAML 1.1); make them floats."""
    out = {}
    for key, value in overrides.items():
        if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value):
            value = float(value)
        out[key] = value
    return out


def builtin_recipes() -> list[str]:
    """Names of the recipes shipped in ``peclip/recipes/``."""
    folder = resources.files("peclip") / "recipes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_recipe_file(name_or_path: str | os.PathLike) -> tuple[str, dict]:
    """``(name, raw dict)`` of a built-in recipe or a YAML file, with ``base:`` recipes merged in."""
    return _read(str(name_or_path), seen=())


def _read(name_or_path: str, seen: tuple[str, ...]) -> tuple[str, dict]:
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"recipe file {path} does not exist; built-in recipes: "
                                    f"{', '.join(builtin_recipes())}")
        text, name, key = path.read_text(), path.stem, str(path.resolve())
    else:
        resource = resources.files("peclip") / "recipes" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise ValueError(f"unknown recipe {name_or_path!r}; built-in recipes: {', '.join(builtin_recipes())} "
                             "(or give the path to a YAML file)")
        text, name, key = resource.read_text(), name_or_path, f"builtin:{name_or_path}"
    if key in seen:
        raise ValueError(f"recipe {name!r} includes itself through 'base' ({' -> '.join(seen)})")
    try:
        raw = yaml.load(text, Loader=_Loader) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"recipe {name_or_path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {name_or_path} must be a YAML mapping with sections {', '.join(SECTIONS[1:])}")
    base = raw.pop("base", None)
    if base is not None:
        builtin = (resources.files("peclip") / "recipes" / f"{base}.yaml").is_file()
        base_ref = str(base) if builtin or not path.exists() else str(path.parent / str(base))
        _, base_raw = _read(base_ref, (*seen, key))
        raw = merge_overrides(base_raw, raw)
    return str(raw.pop("name", name)), raw


def recipe_from_dict(raw: dict, name: str = "custom") -> Recipe:
    """Validate a raw recipe dict into a :class:`Recipe` (keys that moved are migrated first)."""
    raw = _migrate(copy.deepcopy(raw))
    name = raw.pop("name", name)
    unknown = sorted(set(raw) - set(SECTIONS[1:]))
    if unknown:
        raise ValueError(f"unknown recipe sections: {', '.join(unknown)}; valid sections: {', '.join(SECTIONS[1:])}")
    model = from_dict(ModelSection, raw.get("model"), "model")
    model.resolve()  # unknown or bad model overrides fail here, before anything is built
    data_raw = raw.get("data") or {}
    if not isinstance(data_raw, dict):
        raise ValueError(f"recipe section 'data' must be a mapping, got {data_raw!r}")
    data = DataConfig.from_dict(data_raw)
    train = from_dict(TrainConfig, raw.get("train"), "train")
    run = from_dict(RunSection, raw.get("run"), "run")
    synthetic = raw.get("synthetic")
    synthetic = from_dict(SyntheticSection, synthetic, "synthetic") if synthetic is not None else None
    expected = raw.get("expected")
    expected = from_dict(ExpectedSection, expected, "expected") if expected is not None else None
    cotrain = raw.get("cotrain")
    cotrain = from_dict(CotrainSection, cotrain, "cotrain") if cotrain is not None else None
    return Recipe(name, model, data, train, run, synthetic, expected, cotrain)


def _migrate(raw: dict) -> dict:
    """Recipes and run folders written before a setting moved to its one home still load."""
    train = raw.get("train")
    if isinstance(train, dict) and "grad_checkpointing" in train:
        value = train.pop("grad_checkpointing")
        model = raw.setdefault("model", {}) or {}
        raw["model"] = model
        runtime = model.setdefault("runtime", {}) or {}
        model["runtime"] = runtime
        runtime.setdefault("grad_checkpointing", value)
        log.warning("train.grad_checkpointing has moved to model.runtime.grad_checkpointing; read as that")
    return raw


def load_recipe(name_or_path: str | os.PathLike, overrides: dict | None = None) -> Recipe:
    """A validated recipe: a built-in name or YAML path, with dotted ``overrides`` applied."""
    name, raw = read_recipe_file(name_or_path)
    raw = merge_overrides(raw, _coerce_numbers(overrides or {}))
    return recipe_from_dict(raw, name)


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe as YAML text."""
    return yaml.safe_dump(recipe.to_dict(), sort_keys=False)
