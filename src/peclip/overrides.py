"""``--set KEY=VALUE``: one meaning in every command.

A key is a dotted path whose first part names a section:

- ``model.FIELD`` (or just ``FIELD`` when it is a :class:`~peclip.config.ModelConfig` field, e.g.
  ``temporal.per_video=false``): the model's config. In a recipe these are ``model.overrides``;
  ``model.name`` and ``model.pretrained`` are the recipe's own model keys.
- ``runtime.FIELD``: :class:`~peclip.config.RuntimeOptions` (how the model runs).
- ``data.FIELD``: :class:`~peclip.data.config.DataConfig` (commands that read data).
- ``train.FIELD``, ``run.FIELD``, ``synthetic.FIELD``, ``cotrain.FIELD``: the recipe's sections (``peclip train``).

Values are read as YAML scalars (``false``, ``1e-4``, ``[a, b]``). Each command says which sections
it takes; a key for another section is an error that names the command and the sections it takes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import yaml

from peclip.config import ModelConfig

SECTIONS = ("model", "runtime", "data", "train", "run", "synthetic", "cotrain")
#: model.* keys that are the recipe's own (which model, which weights), not ModelConfig fields
RECIPE_MODEL_KEYS = ("name", "pretrained", "overrides", "runtime")

_MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelConfig)}


def parse_pairs(pairs: list[str]) -> dict:
    """``["a.b=1", "c=false"]`` -> ``{"a.b": 1, "c": False}``; values are read as YAML scalars."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {pair!r} must look like KEY=VALUE, e.g. --set model.temporal.per_video=false")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {pair!r}: the value is not valid YAML ({err})") from err
        if isinstance(parsed, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", parsed):
            parsed = float(parsed)  # YAML 1.1 reads 1e-4 as a string
        out[key] = parsed
    return out


@dataclass
class Overrides:
    """``--set`` values split by section, keys relative to the section (``{"temporal.per_video": False}``)."""

    model: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)  # train.*, run.*, synthetic.*, cotrain.*, model.name / pretrained

    def recipe_overrides(self) -> dict:
        """All of it as dotted recipe keys (``model.overrides.X``, ``model.runtime.X``, ``data.X``, ...)."""
        out = {f"model.overrides.{k}": v for k, v in self.model.items()}
        out.update({f"model.runtime.{k}": v for k, v in self.runtime.items()})
        out.update({f"data.{k}": v for k, v in self.data.items()})
        out.update(self.recipe)
        return out


def parse_overrides(pairs: list[str], command: str, sections: tuple[str, ...]) -> Overrides:
    """Split ``--set`` pairs by section; a section that ``command`` does not take is an error."""
    result = Overrides()
    for key, value in parse_pairs(pairs).items():
        head, _, rest = key.partition(".")
        if head not in SECTIONS:
            if head not in _MODEL_FIELDS:
                raise ValueError(f"--set {key}: unknown setting; keys start with a section ({', '.join(SECTIONS)}) "
                                 f"or are model config fields ({', '.join(sorted(_MODEL_FIELDS))})")
            head, rest = "model", key
        if head not in sections:
            raise ValueError(f"--set {key}: peclip {command} takes {', '.join(s + '.*' for s in sections)} settings "
                             f"only")
        if not rest:
            raise ValueError(f"--set {key}: name a field of the {head} section, e.g. {head}.FIELD=VALUE")
        if head == "model":
            first = rest.split(".")[0]
            if first in RECIPE_MODEL_KEYS:
                if "train" not in sections:
                    raise ValueError(f"--set {key}: model.{first} is a recipe key (peclip train); here the model "
                                     "comes from --model / --checkpoint")
                if first in ("overrides", "runtime"):
                    target = result.model if first == "overrides" else result.runtime
                    _, _, sub = rest.partition(".")
                    if sub:
                        target[sub] = value
                    elif isinstance(value, dict):
                        target.update(value)
                    else:
                        raise ValueError(f"--set {key}: give a field, e.g. {key}.FIELD=VALUE")
                else:
                    result.recipe[key] = value
            else:
                result.model[rest] = value
        elif head == "runtime":
            result.runtime[rest] = value
        elif head == "data":
            result.data[rest] = value
        else:
            result.recipe[key] = value
    return result
