"""Recipes carry the numbers they should reproduce; ``peclip eval`` prints a run's numbers beside them,
with the difference and the checks that most often explain a gap."""

import json

import pytest
import torch

import peclip
from peclip.cli import main
from peclip.data.synthetic import MotionSpec, write_motion_dataset
from peclip.evaluation.expected import compare_expected, format_expected
from peclip.train.checkpoints import write_checkpoint
from peclip.train.config import load_recipe


def test_benchmark_recipes_carry_the_published_numbers():
    published = {"dfew": (62.82, 74.04), "dfew-official": (62.82, 74.04), "ferv39k": (41.57, 51.26),
                 "afew": (53.85, 58.49)}
    for name, (uar, war) in published.items():
        expected = load_recipe(name).expected
        assert (expected.uar, expected.war, expected.selection) == (uar, war, "test"), name
        assert "2503.16945" in expected.source
    mafw = load_recipe("mafw").expected
    assert mafw.uar is None and mafw.war is None and "no MAFW numbers" in mafw.source
    lines = format_expected(compare_expected({"uar": 40.0, "war": 50.0}, mafw))
    assert lines[-1] == "  none published to compare with"
    synthetic = load_recipe("synthetic").expected
    assert synthetic.uar is not None and "measured" in synthetic.source and synthetic.selection == "last"


def test_expected_numbers_must_be_percentages_with_a_source():
    with pytest.raises(ValueError, match=r"expected.uar=162.8 must be a percentage"):
        load_recipe("dfew", {"expected.uar": 162.8})
    with pytest.raises(ValueError, match="expected.source must say"):
        load_recipe("dfew", {"expected.source": ""})


def test_eval_of_a_synthetic_run_prints_its_expected_numbers_and_the_difference(tmp_path, capsys):
    assert main(["train", "--recipe", "synthetic", "--set", f"run.output_dir={tmp_path}", "--set", "run.name=r",
                 "--set", "train.epochs=1", "--set", "synthetic.num_train=16", "--set", "synthetic.num_test=8",
                 "--set", "train.progress=false"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    expected = load_recipe("synthetic").expected
    uar_diff = metrics["uar"] - expected.uar
    assert f"expected numbers ({expected.source}):" in printed
    assert f"UAR {metrics['uar']:6.2f}  expected {expected.uar:6.2f}  diff {uar_diff:+6.2f}" in printed
    assert metrics["expected"]["war"] == {"run": metrics["war"], "expected": expected.war,
                                          "diff": round(metrics["war"] - expected.war, 2)}
    assert "frames per clip (all 8 clips): median 8 in the annotation, median 8 on disk" in printed
    assert "classes with no test clip: none (all 2 present)" in printed
    assert "  selection: last epoch\n" in printed  # the same selection as the expected numbers: nothing to add


def test_eval_names_the_usual_causes_of_a_gap(tmp_path, capsys):
    root = tmp_path / "clips"
    write_motion_dataset(root, num_train=1, num_test=4, spec=MotionSpec(num_classes=4, num_frames=4), seed=1)
    lines = (root / "test.txt").read_text().splitlines()[:3]  # labels 0, 1, 2: no clip of class 3
    path, _, label = lines[1].split()
    lines[1] = f"{path} 12 {label}"  # the annotation says 12 frames, the folder holds 4
    (root / "subset.txt").write_text("\n".join(lines) + "\n")
    torch.manual_seed(0)
    model = peclip.create_model("test-peclip-vit-b16", classes=["right", "left", "down", "up"], text_kind="names",
                                num_frames=8)
    ckpt = write_checkpoint(tmp_path / "ckpt", model, {"init_seed": 0})
    assert main(["eval", str(ckpt), "--data", str(root / "subset.txt"), "--root", str(root), "--expected", "dfew",
                 "--set", "data.num_workers=0", "--out", str(tmp_path / "rep")]) == 0
    printed = capsys.readouterr().out
    assert "expected  62.82  diff" in printed and "expected  74.04  diff" in printed
    assert "protocol of the expected numbers: official script" in printed
    assert "1 clips differ (e.g. 00001: 12 listed, 4 on disk)" in printed
    assert "3 clips have fewer than the 8 frames sampled per clip" in printed
    assert "classes with no test clip: up (UAR averages the others)" in printed
    assert ("selection: the given checkpoint; the expected numbers used best epoch on the test set (official "
            "protocol; optimistic), which is optimistic: expect this run lower") in printed
    assert main(["eval", str(ckpt), "--data", str(root / "subset.txt"), "--expected", "nope"]) == 2
