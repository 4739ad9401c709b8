"""Resume gives the same weights and metrics as an unbroken run; a non-finite loss stops cleanly."""

import json

import torch
from safetensors.torch import load_file

from peclip.cli import main
from peclip.train import trainer

# Mixing, augmentation and test-set model selection all on, so every source of randomness is exercised.
ARGS = ["--recipe", "synthetic", "--set", "synthetic.num_train=16", "--set", "synthetic.num_test=8",
        "--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=2", "--set", "train.batch_size=4",
        "--set", "train.progress=false", "--set", "data.mix_prob_mixup=0.4", "--set", "data.mix_prob_fmix=0.3",
        "--set", "data.augment=dfew", "--set", "train.selection=test", "--set", "train.lr_adapters=1e-2"]
TIMING = {"clips_per_s", "train_seconds"}


def _state(run):
    weights = load_file(str(run / "checkpoints" / "last" / "trainable.safetensors"))
    best = load_file(str(run / "checkpoints" / "best" / "trainable.safetensors"))
    results = json.loads((run / "results.json").read_text())
    metrics = (run / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    rows = [{k: v for k, v in zip(header, line.split(","), strict=True) if k not in TIMING} for line in metrics[1:]]
    return weights, best, results, rows


def test_resume_after_epoch_one_equals_an_unbroken_run(tmp_path, monkeypatch, capsys):
    assert main(["train", *ARGS, "--output-dir", str(tmp_path), "--name", "unbroken"]) == 0

    real = trainer.train_one_epoch

    def interrupted(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt  # Ctrl-C / a killed job during the second epoch
        return real(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", interrupted)
    assert main(["train", *ARGS, "--output-dir", str(tmp_path), "--name", "broken"]) == 130  # one line, no traceback
    assert "peclip train: interrupted" in capsys.readouterr().err
    assert not (tmp_path / "broken" / "results.json").exists()
    epochs_run = []

    def counted(*args, epoch, **kwargs):
        epochs_run.append(epoch)
        return real(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", counted)
    assert main(["train", "--resume", str(tmp_path / "broken")]) == 0
    assert epochs_run == [1]  # continued after epoch 0, did not start over
    capsys.readouterr()

    weights_a, best_a, results_a, rows_a = _state(tmp_path / "unbroken")
    weights_b, best_b, results_b, rows_b = _state(tmp_path / "broken")
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    assert rows_a == rows_b and len(rows_a) == 2
    assert results_a["selected"] == results_b["selected"] and results_a["last"] == results_b["last"]


def test_non_finite_loss_stops_with_advice_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    real_build = trainer.build_model
    calls = {"train": 0}

    def poisoned_build(recipe):
        model = real_build(recipe)

        def hook(module, inputs, output):
            if module.training:
                calls["train"] += 1
                if calls["train"] == 3:  # epoch 1, step 0 (two steps per epoch)
                    if isinstance(output, tuple):  # the engine asks for ModelOutputs (logits and embeddings)
                        return output._replace(loss_logits=output.loss_logits * float("nan"))
                    return output * float("nan")
            return output

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(trainer, "build_model", poisoned_build)
    assert main(["train", *ARGS, "--output-dir", str(tmp_path), "--name", "nan"]) == 2
    err = capsys.readouterr().err
    assert "epoch 1, step 0" in err and "lower learning rate" in err and "precision" in err
    run = tmp_path / "nan"
    config = json.loads((run / "checkpoints" / "last" / "config.json").read_text())
    assert config["epoch"] == 0  # the end of the last good epoch
    monkeypatch.undo()
    assert main(["train", "--resume", str(run)]) == 0  # and the run can go on from it
    assert json.loads((run / "results.json").read_text())["last"]["epoch"] == 1
