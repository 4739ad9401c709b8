"""``peclip eval`` on saved models: manifests of other data, label-set mismatches, clear errors."""

import json

import pytest
import torch

import peclip
from peclip.cli import main
from peclip.data.synthetic import MotionSpec, write_motion_dataset
from peclip.train.checkpoints import write_checkpoint


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_motion_dataset(root, num_train=1, num_test=6, spec=MotionSpec(num_classes=4, num_frames=4), seed=5)
    return root


def _checkpoint(path, classes):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = peclip.create_model("test-peclip-vit-b16", classes=classes, text_kind="names", num_frames=4)
    return write_checkpoint(path, model, {"init_seed": 0})


def test_eval_a_checkpoint_on_a_manifest_writes_a_full_report(tmp_path, clips, capsys):
    ckpt = _checkpoint(tmp_path / "m4", ["right", "left", "down", "up"])
    out = tmp_path / "report"
    assert main(["eval", str(ckpt), "--data", str(clips / "test.txt"), "--out", str(out),
                 "--set", "data.num_workers=0", "--set", "data.num_frames=4"]) == 0
    printed = capsys.readouterr().out
    assert "selection: the given checkpoint" in printed and "right" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 6 and 0 <= metrics["uar"] <= 100
    assert set(metrics["per_class_recall"]) == {"right", "left", "down", "up"}
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0].startswith("index,path,target,prediction,p_right") and len(lines) == 7
    assert (out / "confusion.csv").read_text().count("\n") == 5
    # the model it evaluated is the one that was saved, frozen random CLIP included
    model = peclip.load(ckpt)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        again = peclip.create_model("test-peclip-vit-b16", classes=["right", "left", "down", "up"],
                                    text_kind="names", num_frames=4)
    assert torch.equal(model.clip.visual.conv1.weight, again.clip.visual.conv1.weight)


def test_eval_rejects_labels_the_model_does_not_have(tmp_path, clips, capsys):
    ckpt = _checkpoint(tmp_path / "m2", ["right", "left"])  # the clips have 4 classes
    assert main(["eval", str(ckpt), "--data", str(clips / "test.txt"), "--set", "data.num_workers=0"]) == 2
    err = capsys.readouterr().err
    assert "labels [2, 3]" in err and "2 classes" in err


def test_eval_of_a_bare_checkpoint_needs_data(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "m", ["right", "left"])
    assert main(["eval", str(ckpt)]) == 2
    assert "give --data" in capsys.readouterr().err
