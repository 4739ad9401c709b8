"""Training learns from stills: a tiny PE-CLIP trained through the CLI on the synthetic still task (a bar
lies or stands: the class is visible in one image) classifies held-out stills.

The ``synthetic-stills`` recipe writes the images as a folder-per-class tree with a CSV manifest, reads
them as ``(3, S, S)`` stills, and each still passes the model as ``temporal.stills`` says (a clip of
``num_frames`` copies by default)."""

import json

import pytest

from peclip.cli import main


@pytest.mark.slow
def test_tiny_model_trained_on_stills_reaches_95_percent_on_held_out_stills(tmp_path, one_thread, capsys):
    assert main(["train", "--recipe", "synthetic-stills", "--output-dir", str(tmp_path), "--name", "stills",
                 "--set", "train.progress=false"]) == 0
    capsys.readouterr()
    run = tmp_path / "stills"
    assert sorted(p.name for p in (run / "synthetic" / "test").iterdir()) == ["hbar", "vbar"]
    results = json.loads((run / "results.json").read_text())
    assert results["last"]["num_samples"] == 128
    assert results["last"]["war"] >= 95.0, results  # chance is 50 %
    assert results["last"]["uar"] >= 95.0, results
