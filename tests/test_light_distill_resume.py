"""Distillation runs resume like any run: the cached teacher logits are read back, not recomputed, and the
result equals an unbroken run; with augmentation the teacher runs on the fly (no cache)."""

import pytest
import torch
from safetensors.torch import load_file

import peclip
from peclip.cli import main
from peclip.train import distill, trainer

ARGS = ["--recipe", "synthetic-light", "--set", "synthetic.num_train=16", "--set", "synthetic.num_test=8",
        "--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=2", "--set", "train.batch_size=4",
        "--set", "train.progress=false", "--set", "run.tensorboard=false"]


@pytest.fixture()
def teacher(tmp_path):
    # any checkpoint with the student's classes and frame count can teach; an untrained one is enough here
    torch.manual_seed(5)
    model = peclip.create_model("test-shuffvit-dfer-t", classes=["right", "left"])
    return str(peclip.save(model.eval(), tmp_path / "teacher"))


def test_resumed_distillation_reuses_the_cache_and_equals_an_unbroken_run(tmp_path, teacher, monkeypatch, capsys):
    args = [*ARGS, "--set", f"train.distill.teacher={teacher}", "--output-dir", str(tmp_path)]
    assert main(["train", *args, "--name", "unbroken"]) == 0
    real = trainer.train_one_epoch

    def interrupted(*a, epoch, **k):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(*a, epoch=epoch, **k)

    monkeypatch.setattr(trainer, "train_one_epoch", interrupted)
    code = main(["train", *args, "--name", "broken"])
    assert code == 130  # Ctrl-C: one line, exit 130 (cli.main)
    cache = tmp_path / "broken" / distill.CACHE_FILE
    assert cache.is_file()
    monkeypatch.setattr(trainer, "train_one_epoch", real)
    written = []
    monkeypatch.setattr(distill, "save_file", lambda *a, **k: written.append(a))
    assert main(["train", "--resume", str(tmp_path / "broken")]) == 0
    assert written == []  # the cache was read back, not computed again
    capsys.readouterr()
    a = load_file(str(tmp_path / "unbroken" / "checkpoints" / "last" / "trainable.safetensors"))
    b = load_file(str(tmp_path / "broken" / "checkpoints" / "last" / "trainable.safetensors"))
    assert a.keys() == b.keys() and any("running_mean" in k for k in a)  # BatchNorm statistics are kept
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_augmented_clips_get_teacher_logits_on_the_fly(tmp_path, teacher, capsys):
    assert main(["train", *ARGS, "--set", f"train.distill.teacher={teacher}", "--set", "data.augment=shuffvit",
                 "--set", "train.epochs=1", "--output-dir", str(tmp_path), "--name", "aug"]) == 0
    capsys.readouterr()
    assert not (tmp_path / "aug" / distill.CACHE_FILE).exists()
    assert (tmp_path / "aug" / "results.json").is_file()


def test_a_teacher_with_other_classes_is_refused_by_name(tmp_path, capsys):
    torch.manual_seed(0)
    other = peclip.save(peclip.create_model("test-shuffvit-dfer-t").eval(), tmp_path / "seven")
    assert main(["train", *ARGS, "--set", f"train.distill.teacher={other}", "--output-dir", str(tmp_path),
                 "--name", "x"]) == 2
    assert "same classes" in capsys.readouterr().err
