"""Smoke: two training steps and an evaluation through ``cli.main`` on a tiny synthetic dataset."""

import json

import pytest

from peclip.cli import main
from peclip.layout import resolve_checkpoint

TINY = ["--recipe", "synthetic", "--set", "synthetic.num_train=16", "--set", "synthetic.num_test=8",
        "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2", "--set", "train.batch_size=4",
        "--set", "train.progress=false"]


def test_two_training_steps_then_eval_through_the_cli(tmp_path, capsys):
    assert main(["train", *TINY, "--output-dir", str(tmp_path), "--name", "smoke"]) == 0
    run = tmp_path / "smoke"
    out = capsys.readouterr().out
    assert "selection: last epoch" in out and "UAR" in out and "WAR" in out
    for name in ("config.yaml", "metrics.csv", "log.txt", "results.json", "checkpoints/last/config.json",
                 "checkpoints/last/trainable.safetensors", "checkpoints/last/training_state.pt",
                 "eval/confusion.csv", "eval/confusion.png", "eval/per_class.csv", "eval/predictions.csv"):
        assert (run / name).is_file(), name
    results = json.loads((run / "results.json").read_text())
    assert results["selection"] == "last" and results["selected"]["num_samples"] == 8
    assert resolve_checkpoint(run) == run / "checkpoints" / "last"

    # evaluate the run on its own test split, then the checkpoint folder on a manifest (cross-dataset path)
    assert main(["eval", str(run), "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "selection: last epoch" in out
    report = json.loads((run / "eval-custom-test" / "metrics.json").read_text())
    assert report["uar"] == pytest.approx(results["selected"]["uar"])
    assert report["war"] == pytest.approx(results["selected"]["war"])
    assert report["loss"] == pytest.approx(results["selected"]["loss"], rel=1e-5)  # the very same model
    assert (run / "eval-custom-test" / "predictions.csv").read_text() == (run / "eval" / "predictions.csv").read_text()

    manifest = run / "synthetic" / "test.txt"
    out_dir = tmp_path / "cross"
    assert main(["eval", str(run / "checkpoints" / "last"), "--data", str(manifest), "--out", str(out_dir),
                 "--set", "data.num_workers=0"]) == 0
    assert "selection: the given checkpoint" in capsys.readouterr().out
    cross = json.loads((out_dir / "metrics.json").read_text())
    assert cross["war"] == pytest.approx(results["selected"]["war"])
    assert cross["loss"] == pytest.approx(results["selected"]["loss"], rel=1e-5)
    assert (out_dir / "confusion.png").stat().st_size > 0


def test_train_refuses_to_overwrite_a_run_and_rejects_unknown_keys(tmp_path, capsys):
    assert main(["train", *TINY, "--output-dir", str(tmp_path), "--name", "r"]) == 0
    capsys.readouterr()
    assert main(["train", *TINY, "--output-dir", str(tmp_path), "--name", "r"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--recipe", "synthetic", "--set", "train.lr_adapter=1e-4"]) == 2
    err = capsys.readouterr().err
    assert "unknown train keys: lr_adapter" in err and "lr_adapters" in err
