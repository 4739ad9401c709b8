"""Training learns: a tiny PE-CLIP learns the motion direction of a moving square, which no frame-wise model can.

Every single frame (and the set of frames of a clip) is equally likely under both classes
(:mod:`peclip.data.synthetic`), so accuracy above chance must come from the TDA's recurrence over time.
The synthetic recipe trains 12 epochs of 256 clips (8 frames, 32x32) through the full pipeline:
frame folders on disk, the data layer, the engine, checkpoints and evaluation.
"""

import json

import pytest

from peclip.cli import main


@pytest.mark.slow
def test_tiny_model_learns_motion_direction_well_above_chance(tmp_path, one_thread, capsys):
    assert main(["train", "--recipe", "synthetic", "--output-dir", str(tmp_path), "--name", "learn",
                 "--set", "train.progress=false"]) == 0
    capsys.readouterr()
    results = json.loads((tmp_path / "learn" / "results.json").read_text())
    assert results["last"]["num_samples"] == 128
    assert results["last"]["war"] >= 90.0, results  # chance is 50 %
    assert results["last"]["uar"] >= 90.0, results
