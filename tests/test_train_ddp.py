"""DistributedDataParallel with 2 CPU processes (gloo, through torchrun) matches one process on the same data.

With mixing off and a batch-independent model (per-video TDA), two processes with 2 clips each see
the same 4-clip global batches as one process with 4 clips (the distributed sampler splits each
shuffled batch between them), so one optimizer step gives the same weights; evaluation gathers the
shards without duplicates, so UAR/WAR are computed over exactly the same clips.
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from ddp_helpers import torchrun_peclip
from peclip.cli import main

ARGS = ["--recipe", "synthetic", "--set", "synthetic.num_train=16", "--set", "synthetic.num_test=7",
        "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2", "--set", "train.batch_size=4",
        "--set", "train.eval_batch_size=2", "--set", "train.progress=false", "--set", "train.device=cpu"]


@pytest.mark.slow
def test_two_cpu_processes_give_the_same_weights_and_metrics_as_one(tmp_path, capsys):
    assert main(["train", *ARGS, "--output-dir", str(tmp_path), "--name", "one"]) == 0
    capsys.readouterr()
    out = torchrun_peclip(["train", *ARGS, "--output-dir", str(tmp_path), "--name", "two"], tmp_path)
    assert out.count("run folder:") == 1  # only rank 0 reports

    one, two = tmp_path / "one", tmp_path / "two"
    res_one = json.loads((one / "results.json").read_text())
    res_two = json.loads((two / "results.json").read_text())
    assert res_two["world_size"] == 2 and res_two["selected"]["num_samples"] == 7
    w1 = load_file(str(one / "checkpoints/last/trainable.safetensors"))
    w2 = load_file(str(two / "checkpoints/last/trainable.safetensors"))
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5, msg=key)
    for key in ("uar", "war", "num_samples"):
        assert res_two["selected"][key] == pytest.approx(res_one["selected"][key])
    assert res_two["selected"]["loss"] == pytest.approx(res_one["selected"]["loss"], rel=1e-4)
    rows1 = (one / "metrics.csv").read_text().splitlines()
    rows2 = (two / "metrics.csv").read_text().splitlines()
    assert rows1[0] == rows2[0]

    # the same checkpoint evaluated by 1 and by 2 processes (7 clips: uneven shards) gives identical numbers
    ckpt = one / "checkpoints" / "last"
    manifest = one / "synthetic" / "test.txt"
    assert main(["eval", str(ckpt), "--data", str(manifest), "--batch-size", "2", "--device", "cpu",
                 "--out", str(tmp_path / "eval1"), "--set", "data.num_workers=0"]) == 0
    torchrun_peclip(["eval", str(ckpt), "--data", str(manifest), "--batch-size", "2", "--device", "cpu",
               "--out", str(tmp_path / "eval2"), "--set", "data.num_workers=0"], tmp_path)
    e1 = json.loads((tmp_path / "eval1" / "metrics.json").read_text())
    e2 = json.loads((tmp_path / "eval2" / "metrics.json").read_text())
    assert (e1["uar"], e1["war"], e1["num_samples"]) == (e2["uar"], e2["war"], e2["num_samples"]) == \
        (e1["uar"], e1["war"], 7)
    assert e2["loss"] == pytest.approx(e1["loss"], rel=1e-5)
    preds1 = (tmp_path / "eval1" / "predictions.csv").read_text().splitlines()
    preds2 = (tmp_path / "eval2" / "predictions.csv").read_text().splitlines()
    assert [p.split(",")[:4] for p in preds1] == [p.split(",")[:4] for p in preds2]
