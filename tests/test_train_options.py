"""Training options: gradient accumulation, activation checkpointing, bf16 autocast, val selection, init_from."""

import json

import pytest
import torch
from safetensors.torch import load_file

from peclip.train.config import load_recipe
from peclip.train.trainer import stratified_split, train

BASE = {"synthetic.num_train": 16, "synthetic.num_test": 6, "train.epochs": 1, "train.max_steps_per_epoch": 2,
        "train.batch_size": 4, "train.progress": False}


def _train(tmp_path, name, **overrides):
    recipe = load_recipe("synthetic", {**BASE, "run.output_dir": str(tmp_path), "run.name": name, **overrides})
    result = train(recipe)
    weights = load_file(str(result.run_dir / "checkpoints" / "last" / "trainable.safetensors"))
    return result, weights


def _close(a, b, **tol):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key, **tol)


def test_accumulation_and_activation_checkpointing_give_the_same_step(tmp_path):
    _, plain = _train(tmp_path, "plain")
    _, accumulated = _train(tmp_path, "accum", **{"train.grad_accum": 2})  # 2 micro-batches of 2 clips
    _, checkpointed = _train(tmp_path, "ckpt", **{"model.runtime.grad_checkpointing": True})
    _close(plain, accumulated, rtol=1e-4, atol=1e-5)
    _close(plain, checkpointed, rtol=1e-5, atol=1e-6)


def test_bf16_autocast_trains(tmp_path):
    result, weights = _train(tmp_path, "bf16", **{"train.precision": "bf16"})
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert result.selected["num_samples"] == 6


def test_val_selection_reports_the_selected_and_the_last_epoch(tmp_path):
    result, _ = _train(tmp_path, "val", **{"train.selection": "val", "train.epochs": 2, "train.val_fraction": 0.25})
    assert result.selection == "val"
    assert result.selected["epoch"] in (0, 1) and result.last["epoch"] == 1
    rows = (result.run_dir / "metrics.csv").read_text().splitlines()
    assert all(",val," in row for row in rows[1:])  # epochs were scored on the carved validation split
    assert (result.run_dir / "checkpoints" / "best" / "config.json").is_file()
    info = json.loads((result.run_dir / "eval" / "metrics.json").read_text())
    assert info["selection"] == "val" and info["num_samples"] == 6


def test_stratified_split_takes_a_share_of_every_class():
    class Item:
        def __init__(self, label):
            self.label = label

    items = [Item(i % 3) for i in range(30)]
    train_items, val_items = stratified_split(items, 0.2, seed=1)
    assert len(val_items) == 6 and sorted(i.label for i in val_items) == [0, 0, 1, 1, 2, 2]
    assert not set(map(id, train_items)) & set(map(id, val_items))
    again, _ = stratified_split(items, 0.2, seed=1)
    assert [id(i) for i in again] == [id(i) for i in train_items]


def test_init_from_starts_from_another_runs_weights(tmp_path):
    first, weights = _train(tmp_path, "first")
    # with zero learning rates nothing moves, so the end equals the start: the first run's weights
    _, continued = _train(tmp_path, "second", **{"train.init_from": str(first.run_dir), "train.lr_adapters": 0.0,
                                                 "train.lr_prompts": 0.0})
    _close(weights, continued, rtol=0, atol=0)
    with pytest.raises(FileNotFoundError):
        _train(tmp_path, "third", **{"train.init_from": str(tmp_path / "missing")})
