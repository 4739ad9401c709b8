"""The video-caption contrastive loss (caption training, docs/text-supervision.md): a hand computation,
the temperature switch, and 2 CPU processes under torchrun against 1 process with the whole batch."""

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from peclip.distributed import DistInfo, gather_with_local_grad
from peclip.train.engine import CaptionContrastiveLoss, symmetric_infonce


def _hand_infonce(v, c, scale):
    """Both directions of InfoNCE written out with math.exp/log, element by element."""
    n = len(v)
    sims = [[scale * sum(a * b for a, b in zip(v[i], c[j], strict=True)) for j in range(n)] for i in range(n)]
    rows = [-sims[i][i] + math.log(sum(math.exp(sims[i][j]) for j in range(n))) for i in range(n)]
    cols = [-sims[j][j] + math.log(sum(math.exp(sims[i][j]) for i in range(n))) for j in range(n)]
    return 0.5 * (sum(rows) / n + sum(cols) / n)


def test_symmetric_infonce_equals_a_hand_computation_on_a_tiny_batch():
    v = F.normalize(torch.tensor([[1.0, 0.0, 0.2], [0.3, 1.0, 0.0], [0.0, 0.4, 1.0]], dtype=torch.float64), dim=-1)
    c = F.normalize(torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.5, 0.5], [0.1, 0.0, 1.0]], dtype=torch.float64), dim=-1)
    got = float(symmetric_infonce(v, c, 4.0))
    assert got == pytest.approx(_hand_infonce(v.tolist(), c.tolist(), 4.0), rel=1e-12)
    # not symmetric in its arguments' roles unless the similarity matrix is: both directions count
    assert float(symmetric_infonce(c, v, 4.0)) == pytest.approx(got, rel=1e-12)
    assert float(symmetric_infonce(v, c[[1, 0, 2]], 4.0)) > got  # mismatched pairs cost more


def test_caption_loss_temperature_is_learnable_or_fixed():
    learnable = CaptionContrastiveLoss(temperature=0.05, learnable=True)
    fixed = CaptionContrastiveLoss(temperature=0.05, learnable=False)
    assert [n for n, _ in learnable.named_parameters()] == ["log_scale"]
    assert list(fixed.parameters()) == []
    assert float(learnable.scale().detach()) == pytest.approx(20.0) == float(fixed.scale())
    v = F.normalize(torch.randn(4, 8), dim=-1)
    c = F.normalize(torch.randn(4, 8), dim=-1)
    loss, backward = learnable(v, c)
    assert float(loss) == pytest.approx(float(symmetric_infonce(v, c, 20.0)), rel=1e-6)
    assert float(backward.detach()) == float(loss.detach())  # one process: nothing to rescale
    backward.backward()
    assert learnable.log_scale.grad is not None and float(learnable.log_scale.grad) != 0.0
    assert float(CaptionContrastiveLoss(temperature=1e-4).scale().detach()) == 100.0  # CLIP's cap
    with pytest.raises(ValueError, match="temperature"):
        CaptionContrastiveLoss(temperature=0.0)


def test_gather_without_a_process_group_is_the_identity():
    x = torch.randn(3, 4, requires_grad=True)
    assert gather_with_local_grad(x, DistInfo()) is x


# A tiny DDP "model" (two linear maps: clips and captions to embeddings) and a fixed global batch of 4;
# each of W processes takes its DistributedSampler-style share (rank r: rows r, r + W, ...).
_SCRIPT = textwrap.dedent('''
    import json, sys
    import torch, torch.nn.functional as F
    from torch import nn
    from peclip import distributed
    from peclip.train.engine import CaptionContrastiveLoss

    class Towers(nn.Module):
        def __init__(self):
            super().__init__()
            self.v, self.c = nn.Linear(6, 5), nn.Linear(7, 5)

        def forward(self, x, t):
            return F.normalize(self.v(x), dim=-1), F.normalize(self.c(t), dim=-1)

    info = distributed.setup("cpu")
    torch.manual_seed(0)
    towers = Towers()
    loss_fn = CaptionContrastiveLoss(temperature=0.1, learnable=True)
    clips, captions = torch.randn(4, 6), torch.randn(4, 7)
    rows = list(range(info.rank, 4, info.world_size))
    net = nn.parallel.DistributedDataParallel(towers) if info.enabled else towers
    v, c = net(clips[rows], captions[rows])
    loss, backward = loss_fn(v, c, info)
    backward.backward()
    out = {"loss": float(loss), "scale_grad": float(loss_fn.log_scale.grad),
           "grads": {n: p.grad.flatten().tolist() for n, p in towers.named_parameters()}}
    if info.is_main:
        with open(sys.argv[1], "w") as fh:
            json.dump(out, fh)
    distributed.barrier(info)  # no rank tears the group down while the other still talks to it
    distributed.cleanup(info)
''')


@pytest.mark.slow
def test_two_cpu_processes_give_the_loss_and_gradients_of_one_process_with_the_whole_batch(tmp_path):
    script = tmp_path / "caption_ddp.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one.json")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), str(tmp_path / "two.json")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    r1 = json.loads((tmp_path / "one.json").read_text())
    r2 = json.loads((tmp_path / "two.json").read_text())
    assert r2["loss"] == pytest.approx(r1["loss"], rel=1e-6)
    assert r2["scale_grad"] == pytest.approx(r1["scale_grad"], rel=1e-5)
    for name, grad in r1["grads"].items():
        torch.testing.assert_close(torch.tensor(r2["grads"][name]), torch.tensor(grad), rtol=1e-5, atol=1e-7,
                                   msg=name)
