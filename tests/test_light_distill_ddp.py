"""Distillation under DistributedDataParallel: 2 CPU processes (gloo, through torchrun) against one.

A tiny teacher run (the light temporal model on the motion task) teaches two students:

- a batch-independent student (tiny PE-CLIP, per-video TDA): two processes with 2 clips each see the
  same 4-clip global batches as one process with 4 clips, read the same cached teacher logits and take
  the same steps, so the weights and the metrics equal one process's within the tolerance of
  tests/test_train_ddp.py;
- a light student: it trains under two processes from the same teacher cache (written once, by rank 0,
  equal to one process's), but its weights cannot equal one process's: its BatchNorm layers normalise
  each process's 2 clips with their own batch statistics, where one process normalises all 4.
  torch's SyncBatchNorm, which would share them, runs on GPUs only, so this holds for every
  BatchNorm model trained with DDP on CPUs (docs/light.md).
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from ddp_helpers import torchrun_peclip
from peclip.cli import main
from peclip.train.distill import CACHE_FILE

SMALL = ["--set", "synthetic.num_train=16", "--set", "synthetic.num_test=7", "--set", "train.epochs=1",
         "--set", "train.max_steps_per_epoch=2", "--set", "train.batch_size=4", "--set", "train.eval_batch_size=2",
         "--set", "train.progress=false", "--set", "train.device=cpu", "--set", "run.tensorboard=false"]


def _results(run):
    return json.loads((run / "results.json").read_text())


def _weights(run):
    return load_file(str(run / "checkpoints" / "last" / "trainable.safetensors"))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    assert main(["train", "--recipe", "synthetic-light", *SMALL, "--output-dir", str(out), "--name", "teacher"]) == 0
    return out / "teacher"


@pytest.mark.slow
def test_distilling_with_two_cpu_processes_gives_one_process_weights_and_metrics(teacher, tmp_path, capsys):
    args = ["train", "--recipe", "synthetic", *SMALL, "--set", f"train.distill.teacher={teacher}",
            "--output-dir", str(tmp_path)]
    assert main([*args, "--name", "one"]) == 0
    capsys.readouterr()
    out = torchrun_peclip([*args, "--name", "two"], tmp_path)
    assert out.count("run folder:") == 1  # only rank 0 reports
    one, two = tmp_path / "one", tmp_path / "two"
    # the teacher's logits were computed once (rank 0) from the same clips: the very same cache
    c1, c2 = load_file(str(one / CACHE_FILE))["logits"], load_file(str(two / CACHE_FILE))["logits"]
    assert c1.shape == (16, 2) and torch.equal(c1, c2)
    res_one, res_two = _results(one), _results(two)
    assert (res_one["world_size"], res_two["world_size"]) == (1, 2)
    w1, w2 = _weights(one), _weights(two)
    assert w1.keys() == w2.keys()
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5, msg=key)
    for key in ("uar", "war", "num_samples"):
        assert res_two["selected"][key] == pytest.approx(res_one["selected"][key])
    assert res_two["selected"]["loss"] == pytest.approx(res_one["selected"]["loss"], rel=1e-4)
    # the distillation loss took part: a run without the teacher ends elsewhere
    assert main(["train", "--recipe", "synthetic", *SMALL, "--output-dir", str(tmp_path), "--name", "plain"]) == 0
    capsys.readouterr()
    plain = _weights(tmp_path / "plain")
    changed = sum(not torch.allclose(plain[k], w1[k], rtol=1e-4, atol=1e-5) for k in w1)
    assert changed > 0


@pytest.mark.slow
def test_a_light_student_distils_under_two_processes_from_the_one_cache(teacher, tmp_path, capsys):
    args = ["train", "--recipe", "synthetic-light", *SMALL, "--set", "train.seed=7",
            "--set", f"train.distill.teacher={teacher}", "--output-dir", str(tmp_path)]
    assert main([*args, "--name", "one"]) == 0
    capsys.readouterr()
    torchrun_peclip([*args, "--name", "two"], tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    assert torch.equal(load_file(str(one / CACHE_FILE))["logits"], load_file(str(two / CACHE_FILE))["logits"])
    res_two = _results(two)
    assert res_two["world_size"] == 2 and res_two["selected"]["num_samples"] == 7
    w1, w2 = _weights(one), _weights(two)
    assert w1.keys() == w2.keys() and any("running_mean" in k for k in w2)
    assert all(torch.isfinite(w2[k].float()).all() for k in w2)
