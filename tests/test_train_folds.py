"""Cross-validation: folds in sequence, a summary table, and --resume skipping finished folds."""

import csv

import pytest

from peclip.cli import main
from peclip.data.synthetic import MotionSpec, write_motion_dataset
from peclip.train import trainer


@pytest.fixture()
def fold_recipe(tmp_path):
    data = tmp_path / "data"
    spec = MotionSpec(num_classes=2, num_frames=4)
    annotations = write_motion_dataset(data, num_train=12, num_test=1, spec=spec, seed=3)
    # a CSV manifest with a fold column and no split column: fold k's clips are the test set of fold k
    rows = [line.split() for line in annotations["train"].read_text().splitlines()]
    with open(data / "folds.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "fold"])
        for i, (path, _, label) in enumerate(rows):
            writer.writerow([path, label, (i // 2) % 2 + 1])  # both classes in every fold
    recipe = tmp_path / "cv.yaml"
    recipe.write_text(
        "base: synthetic\nsynthetic: null\nmodel:\n  overrides:\n    num_frames: 4\n"
        f"data:\n  manifest: {(data / 'folds.csv').as_posix()}\n"
        "train:\n  epochs: 1\n  batch_size: 2\n  max_steps_per_epoch: 1\n  progress: false\n")
    return recipe


def test_folds_run_in_sequence_and_resume_skips_finished_ones(tmp_path, fold_recipe, monkeypatch, capsys):
    real = trainer.train_one_epoch
    calls = []

    def dies_in_fold_two(*args, **kwargs):
        calls.append(kwargs["epoch"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second fold
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", dies_in_fold_two)
    code = main(["train", "--recipe", str(fold_recipe), "--folds", "1,2", "--output-dir", str(tmp_path),
                 "--name", "cv"])
    assert code == 130  # Ctrl-C: one line, exit 130 (cli.main)
    run = tmp_path / "cv"
    assert (run / "fold1" / "results.json").is_file() and not (run / "fold2" / "results.json").exists()

    calls.clear()
    assert main(["train", "--resume", str(run)]) == 0
    assert calls == [0]  # only fold 2 trained again
    out = capsys.readouterr().out
    assert "| 1 |" in out and "| 2 |" in out and "mean +- std" in out and "selection: last epoch" in out
    with open(run / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["fold"] for r in rows] == ["1", "2", "mean", "std"]
    uars = [float(r["uar"]) for r in rows[:2]]
    assert float(rows[2]["uar"]) == pytest.approx(sum(uars) / 2, abs=1e-3)
    assert (run / "summary.md").read_text().count("|") > 10
    with pytest.raises(ValueError, match="multi-fold"):
        from peclip.layout import resolve_checkpoint

        resolve_checkpoint(run)


def test_folds_all_needs_a_dataset_with_folds(tmp_path, fold_recipe, capsys):
    assert main(["train", "--recipe", str(fold_recipe), "--folds", "all", "--output-dir", str(tmp_path)]) == 2
    assert "has no named folds" in capsys.readouterr().err
