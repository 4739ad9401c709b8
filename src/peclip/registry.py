"""Named models: one JSON file per model under ``model_configs/``, each with a tiny ``test-`` sibling."""

from __future__ import annotations

import json
from importlib import resources


def _config_dir():
    return resources.files("peclip") / "model_configs"


def list_models(include_test: bool = False, family: str | None = None) -> list[str]:
    """The names of the built-in models (``test-`` siblings only with ``include_test``; only the models of
    ``family``, e.g. ``peclip`` or ``light``, when given)."""
    names = sorted(p.name[: -len(".json")] for p in _config_dir().iterdir() if p.name.endswith(".json"))
    names = [n for n in names if include_test or not n.startswith("test-")]
    if family is not None:
        names = [n for n in names if get_model_config(n).get("family", "peclip") == family]
    return names


def get_model_config(name: str) -> dict:
    """The config dict of the built-in model ``name``."""
    path = _config_dir() / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown model {name!r}; built-in models: {', '.join(list_models(include_test=True))}")
    data = json.loads(path.read_text())
    data.setdefault("name", name)
    return data
