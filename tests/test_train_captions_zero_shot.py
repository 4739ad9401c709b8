"""Caption training without labels (FineCLIPER's protocol, docs/text-supervision.md) on the synthetic motion
task: a tiny PE-CLIP trained only on captions the test writes ("a square moving to the left", in varied
wordings) is then scored zero-shot against the class texts "right." / "left."; trained on the same
captions with the direction words stripped, it stays at chance.

Every frame (and the set of frames of a clip) is equally likely under both directions
(:mod:`peclip.data.synthetic`), so the direction must come from the TDA, and the class from the words.
"""

import csv
import json
import random

import pytest
import yaml

from peclip.cli import main
from peclip.data.synthetic import MotionSpec, write_motion_dataset

NAMES = ["right", "left"]
WORDINGS = ["a square moving to the {}", "the square slides {}", "a white box travels {} across the frame",
            "moving {}", "the shape heads {}, steadily", "a block drifting towards the {}",
            "{}: that is where the square goes", "an object moves {} over a dark background"]




def _write_data(root):
    write_motion_dataset(root, 256, 128, MotionSpec(2, 8, 32, colours="fixed"), seed=0)
    rng = random.Random(0)
    rows = []
    for line in (root / "train.txt").read_text().splitlines():
        path, _, label = line.split()
        rows.append([path, "", rng.choice(WORDINGS).format(NAMES[int(label)])])  # no label: captions only
    with open(root / "train.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "caption"])
        writer.writerows(rows)


def _recipe(tmp_path, manifest):
    recipe = {
        "model": {"name": "test-peclip-vit-b16", "pretrained": "none",
                  "overrides": {"classes": NAMES, "text_kind": "names", "num_frames": 8, "temporal.reduction": 2}},
        "data": {"dataset": "custom", "manifest": str(manifest), "test_manifest": str(tmp_path / "data" / "test.txt"),
                 "augment": "none", "mix_prob_mixup": 0.0, "mix_prob_fmix": 0.0, "num_workers": 0},
        "train": {"epochs": 6, "batch_size": 16, "lr_adapters": 3e-3, "lr_prompts": 3e-3, "progress": False,
                  "schedule": {"name": "cosine", "t_initial": 6, "warmup_epochs": 0}, "captions": {"mode": "only"}},
        "run": {"output_dir": str(tmp_path), "tensorboard": False},
    }
    path = tmp_path / f"{manifest.stem}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow
def test_caption_training_without_labels_scores_zero_shot_and_stripped_captions_stay_at_chance(
        tmp_path, one_thread, capsys):
    _write_data(tmp_path / "data")
    recipe = _recipe(tmp_path, tmp_path / "data" / "train.csv")
    assert main(["train", "--recipe", str(recipe), "--name", "captions"]) == 0
    results = json.loads((tmp_path / "captions" / "results.json").read_text())["last"]
    assert results["num_samples"] == 128
    assert results["war"] >= 90.0 and results["uar"] >= 90.0, results  # chance is 50 %; no label was seen

    # peclip eval --zero-shot: the class texts are chosen at evaluation time; in the trained order they give
    # the same accuracy, swapped they turn it upside down, so the texts (not a fixed head) decide
    test = str(tmp_path / "data" / "test.txt")
    for order, out in ((NAMES, "zs"), (NAMES[::-1], "zs-swapped")):
        assert main(["eval", str(tmp_path / "captions"), "--data", test, "--zero-shot", "--device", "cpu",
                     "--set", f"model.classes=[{','.join(order)}]", "--set", "data.num_workers=0",
                     "--out", str(tmp_path / out)]) == 0
    zero_shot = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    swapped = json.loads((tmp_path / "zs-swapped" / "metrics.json").read_text())
    assert zero_shot["war"] == pytest.approx(results["war"])
    assert swapped["war"] <= 100.0 - 80.0, swapped

    # the same captions with the direction words stripped (peclip strip-captions): nothing to learn from
    assert main(["strip-captions", str(tmp_path / "data" / "train.csv"), "--out",
                 str(tmp_path / "data" / "stripped.csv"), "--add", "left", "--add", "right"]) == 0
    assert "256 of 256 captions changed" in capsys.readouterr().out
    assert main(["train", "--recipe", str(_recipe(tmp_path, tmp_path / "data" / "stripped.csv")),
                 "--name", "stripped"]) == 0
    control = json.loads((tmp_path / "stripped" / "results.json").read_text())["last"]
    assert control["war"] <= 70.0, control
