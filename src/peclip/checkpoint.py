"""Small, self-describing checkpoints: ``config.json`` + ``trainable.safetensors``.

``trainable.safetensors`` holds what the model's ``checkpoint_tensors()`` names: for PE-CLIP its
trainable weights only (the frozen CLIP comes from its weights file); for a light model (fully
trainable) every parameter and buffer, BatchNorm statistics included. Loading rebuilds the model from
the config (its family says which, :mod:`peclip.factory`), then loads those tensors strictly: a
missing, unexpected or mis-shaped tensor is an error that names it, and so is a tensor holding NaN or
inf (damaged bytes). No pickle, so loading cannot run code. A model on a random CLIP records the seed
of that CLIP (``clip_seed``), so loading rebuilds it exactly; one whose random CLIP no seed describes is
refused at save time rather than saved into a checkpoint that would load as a different model.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from peclip.atomic import atomic_write, atomic_write_text
from peclip.backbone import check_finite
from peclip.config import RuntimeOptions
from peclip.factory import create_model, family_of
from peclip.layout import CONFIG_FILE, WEIGHTS_FILE, resolve_checkpoint

log = logging.getLogger(__name__)

FORMAT = "peclip-checkpoint/1"


def save(model, directory: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write ``model``'s config and trainable weights into ``directory`` (created; files replaced atomically)."""
    directory = Path(directory)
    seed = {}
    whole = family_of(model.config.to_dict()).whole_checkpoint  # every tensor is saved: no seed needed
    if not whole and (not model.pretrained or model.pretrained == "none"):
        if getattr(model, "clip_seed", None) is None:
            raise ValueError(f"cannot save {model.config.name}: its frozen CLIP has random weights that no seed "
                             "describes (the model was not built by peclip.create_model), and a checkpoint holds "
                             "only the trainable weights, so peclip.load would rebuild a different model. Build it "
                             "with peclip.create_model (which records the seed) or give it CLIP weights "
                             "(pretrained=...)")
        seed = {"clip_seed": int(model.clip_seed)}
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "model": model.config.to_dict(), "pretrained": model.pretrained, **seed,
            "class_names": model.class_names, "class_texts": model.class_texts,
            **({"negative_texts": model.negative_texts} if getattr(model, "negative_texts", None) is not None else {}),
            "runtime": model.runtime.to_dict(), **(extra or {})}
    tensors = {name: p.detach().to("cpu").contiguous() for name, p in model.checkpoint_tensors().items()}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write_text(directory / CONFIG_FILE, json.dumps(meta, indent=2))
    return directory


def read_config(directory: str | os.PathLike) -> dict:
    """The metadata of a checkpoint directory (its ``config.json``), validated."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a peclip checkpoint: {CONFIG_FILE} is missing "
                                "(a checkpoint is a folder written by peclip.save)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the checkpoint is damaged") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "model" not in meta:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path} is not a {FORMAT} config (format={found!r}); was it written by peclip.save?")
    return meta


def resolve(path: str | os.PathLike) -> Path:
    """The checkpoint folder for ``path``: a checkpoint folder, a training run folder, or ``hf-hub:ORG/NAME``
    (downloaded or found in the hub cache, every file checked against its recorded sha256)."""
    return resolve_checkpoint(path)


def load(directory: str | os.PathLike, pretrained: str | None = None,
         map_location: str | torch.device = "cpu", runtime: RuntimeOptions | dict | None = None,
         **overrides):
    """Rebuild the model saved in ``directory`` (a checkpoint or a run folder) and load it strictly.

    ``pretrained`` gives the frozen CLIP weights (tag or file). By default the value recorded at save
    time is used; pass ``pretrained="none"`` to keep random CLIP weights. A model trained on a random
    CLIP (tests, synthetic recipes) records the seed that built it, and gets the same CLIP back.
    The runtime options recorded at save time are restored; ``runtime`` (options or a dict of changes)
    replaces them.
    """
    directory = resolve(directory)
    meta = read_config(directory)
    recorded = meta.get("pretrained")
    source = recorded if pretrained is None else pretrained
    source = None if source in (None, "", "none") else source
    if source is not None and (directory / source).is_file():
        source = str(directory / source)  # CLIP weights that travel with the checkpoint (e.g. clip.safetensors)
    if family_of(meta["model"]).whole_checkpoint:
        # every tensor comes from the checkpoint: the pretrained weights it started from are not needed
        model = create_model(meta["model"], **overrides)
        source = recorded
    elif source is None and "clip_seed" in meta:
        model = create_model(meta["model"], clip_seed=int(meta["clip_seed"]), **overrides)
    elif source is None and "init_seed" in meta:  # run folders written before clip_seed was recorded
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(meta["init_seed"]))
            model = create_model(meta["model"], **overrides)
    else:
        model = create_model(meta["model"], pretrained=source, **overrides)
        if source is None and recorded:
            log.warning("loading %s onto a randomly initialised CLIP; it was trained on %r weights", directory,
                        recorded)
        elif source is None:
            log.warning("%s was saved with a random CLIP but records no seed for it (an older checkpoint): the "
                        "loaded model's frozen CLIP differs from the saved one", directory)
    if meta.get("class_texts") is not None and (meta["class_texts"] != model.class_texts
                                                or meta.get("negative_texts") != getattr(model, "negative_texts",
                                                                                         None)):
        model.set_class_texts(meta["class_texts"], meta.get("class_names"), meta.get("negative_texts"))
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing; the checkpoint is incomplete")
    try:
        state = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{weights} is damaged or not a safetensors file ({err}); re-save the model") from err
    check_finite(state, str(weights))
    load_trainable_state(model, state, str(weights))
    model.pretrained = source
    model.checkpoint = str(directory)
    model.runtime = RuntimeOptions.from_dict({**meta.get("runtime", {}), **_runtime_changes(runtime)})
    return model


def _runtime_changes(runtime: RuntimeOptions | dict | None) -> dict:
    if runtime is None:
        return {}
    return runtime.to_dict() if isinstance(runtime, RuntimeOptions) else dict(runtime)


def load_trainable_state(model, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
    """Copy ``state`` into the model's checkpoint tensors (``checkpoint_tensors()``); every key and shape
    must match."""
    own = model.checkpoint_tensors()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
             for k in sorted(set(own) & set(state)) if own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        lines = [f"{source} does not match the model built from its config:"]
        if missing:
            lines.append(f"  missing ({len(missing)}): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {', '.join(unexpected[:5])}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            lines.append(f"  other shapes ({len(wrong)}): {'; '.join(wrong[:5])}")
        raise ValueError("\n".join(lines))
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(state[name].to(p.dtype))
