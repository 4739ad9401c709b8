"""Atomic checkpoint folders, checkpoint resolution for run folders, RNG state round trip."""

import random

import numpy as np
import pytest
import torch

import peclip
from peclip.layout import checkpoint_dir, resolve_checkpoint
from peclip.train import checkpoints as run_mod
from peclip.train.checkpoints import read_training_state, write_checkpoint
from peclip.train.rng import rng_state, set_rng_state
from peclip.train.run import RunFolder


@pytest.fixture(scope="module")
def model():
    return peclip.create_model("test-peclip-vit-b16")


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "trainable.safetensors"))


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, model, monkeypatch):
    target = tmp_path / "last"
    write_checkpoint(target, model, {"epoch": 0}, {"epoch": 0})
    before = _weights(target)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(1.0)

    def killed(obj, path):  # the process dies while writing the training state
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(target, model, {"epoch": 1}, {"epoch": 1})
    monkeypatch.undo()
    found = checkpoint_dir(target, need_state=True)
    assert found == target
    assert read_training_state(found)["epoch"] == 0
    after = _weights(found)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the next write cleans the leftover temporary folder and replaces the checkpoint
    write_checkpoint(target, model, {"epoch": 1}, {"epoch": 1})
    assert read_training_state(target)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_a_kill_between_the_renames_leaves_the_previous_copy_found(tmp_path, model):
    target = tmp_path / "last"
    write_checkpoint(target, model, {"epoch": 3}, {"epoch": 3})
    target.rename(tmp_path / "last.prev")  # state right after the first rename of a replacement
    found = checkpoint_dir(target, need_state=True)
    assert found == tmp_path / "last.prev" and read_training_state(found)["epoch"] == 3
    assert peclip.load(found).config.name == model.config.name


def test_resolve_checkpoint_for_checkpoint_run_and_multi_fold_folders(tmp_path, model):
    ckpt = write_checkpoint(tmp_path / "ckpt", model)
    assert resolve_checkpoint(ckpt) == ckpt
    run = RunFolder(tmp_path / "run")
    run.create("train:\n  selection: test\n")
    with pytest.raises(FileNotFoundError, match="no checkpoint yet"):
        resolve_checkpoint(run.path)
    write_checkpoint(run.last, model, training_state={"epoch": 0})
    assert resolve_checkpoint(run.path) == run.last  # no best yet: falls back to last
    write_checkpoint(run.best, model)
    assert resolve_checkpoint(run.path) == run.best  # selection test -> best
    folds = tmp_path / "cv"
    RunFolder(folds / "fold1").create("{}\n")
    with pytest.raises(ValueError, match="multi-fold run; pick one fold"):
        resolve_checkpoint(folds)
    with pytest.raises(FileNotFoundError):
        resolve_checkpoint(tmp_path / "nothing")


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    torch.save({"rng": rng_state()}, tmp_path / "s.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_metrics_rows_of_repeated_epochs_are_replaced(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.create("{}\n")
    for epoch, loss in ((0, 1.0), (1, 0.5), (1, 0.25)):
        run.append_metrics({"epoch": epoch, "train_loss": loss})
    rows = run.read_metrics()
    assert [(r["epoch"], r["train_loss"]) for r in rows] == [("0", "1"), ("1", "0.25")]
