"""PN descriptors train: on the synthetic motion task (peclip.data.synthetic, the recipe of
test_train_learns) a tiny PE-CLIP with FineCLIPER's positive and negative class texts (``text_kind: pn``,
the default ``difference`` rule) reaches the accuracy of the same model with the positive texts alone."""

import json

import pytest

from peclip.cli import main

POSITIVE_ONLY = "model.class_texts=[A person with an expression of right, A person with an expression of left]"




@pytest.mark.slow
def test_pn_descriptors_reach_the_positive_only_accuracy(tmp_path, one_thread, capsys):
    results = {}
    for name, setting in (("positive", POSITIVE_ONLY), ("pn", "model.text_kind=pn")):
        assert main(["train", "--recipe", "synthetic", "--output-dir", str(tmp_path), "--name", name,
                     "--set", "train.progress=false", "--set", "run.tensorboard=false", "--set", setting]) == 0
        results[name] = json.loads((tmp_path / name / "results.json").read_text())["last"]
    capsys.readouterr()
    config = json.loads((tmp_path / "pn" / "checkpoints" / "last" / "config.json").read_text())
    assert config["negative_texts"] == [f"A person with an expression of no {c}" for c in ("right", "left")]
    assert results["pn"]["war"] >= 90.0, results  # chance is 50 %
    assert results["pn"]["war"] >= results["positive"]["war"] - 100 * 3 / 128, results  # within 3 of 128 clips
