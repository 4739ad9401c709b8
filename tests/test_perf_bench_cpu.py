"""``peclip bench-cpu`` and :mod:`peclip.perf.cpu`: the recommendation follows speed within the agreement bound."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peclip.cli import main
from peclip.perf import cpu


def _run(precision, seconds):
    return cpu.PrecisionRun(precision, 0.0, seconds, seconds, np.zeros((1, 7)))


def test_the_fastest_precision_within_the_agreement_bound_is_recommended():
    runs = {"fp32": _run("fp32", 10.0), "bf16": _run("bf16", 3.0), "int8": _run("int8", 5.0)}
    agreements = {"bf16": {"top1_agreement": 0.95}, "int8": {"top1_agreement": 1.0}}
    assert cpu.recommend(runs, agreements, 0.99) == ("int8", ["fp32", "int8"])  # bf16 is faster but disagrees
    assert cpu.recommend(runs, agreements, 0.9) == ("bf16", ["fp32", "bf16", "int8"])
    slow = {"fp32": _run("fp32", 1.0), "int8": _run("int8", 5.0)}
    assert cpu.recommend(slow, {"int8": {"top1_agreement": 1.0}}, 0.99)[0] == "fp32"


def test_bench_cpu_measures_each_precision_and_says_which_to_use(tmp_path, monkeypatch, capsys, one_thread):
    monkeypatch.setenv("PECLIP_CACHE_DIR", str(tmp_path / "cache"))  # the int8 graph cache, not the home folder
    out = tmp_path / "bench.json"
    assert main(["bench-cpu", "--model", "test-peclip-vit-b16", "--precisions", "fp32", "bf16", "--clips", "3",
                 "--no-peaks", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report["rows"]) == {"fp32", "bf16"}
    bf16 = report["rows"]["bf16"]["agreement_all"]
    assert bf16["clips"] == 3 and 0 < bf16["max_prob_diff"] < 0.1  # bf16 rounding: close to fp32, not equal
    assert report["recommended"] in report["qualifying"]
    assert f"use --precision {report['recommended']}" in printed
    assert "native bf16" in printed


def test_bench_cpu_refuses_nothing_to_run(capsys):
    assert main(["bench-cpu", "--clips", "0"]) == 2
    assert "at least one random clip" in capsys.readouterr().err


def test_a_slow_precision_can_run_on_a_subset_and_is_compared_there(one_thread):
    model = cpu.random_weights_model("test-peclip-vit-b16")
    clips = cpu.random_clips(4, model.preprocess.num_frames, model.preprocess.size)
    report = cpu.bench_model(model, clips, ["fp32", "bf16"], subsets={"bf16": [0, 3]})
    assert report["rows"]["bf16"]["agreement_all"]["clips"] == 2
    with pytest.raises(ValueError, match="fp32 is the reference"):
        cpu.bench_model(model, clips, ["fp32"], subsets={"fp32": [0]})


def test_each_top1_flip_is_listed_with_fp32s_margin():
    reference = np.array([[0.50, 0.49, 0.01], [0.90, 0.05, 0.05]])
    other = np.array([[0.48, 0.51, 0.01], [0.89, 0.06, 0.05]])
    [flip] = cpu._disagreements(reference, other, np.array([7, 8]))
    assert flip["clip"] == 7
    assert flip["fp32_top2_margin"] == pytest.approx(0.01)
    assert flip["max_prob_diff"] == pytest.approx(0.02)
