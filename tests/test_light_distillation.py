"""Distillation: a trained tiny PE-CLIP teacher (synthetic motion task) taught to a tiny light student.

The student is ``test-shuffvit-dfer-t`` (random-init trunks, GRU over time). It is trained twice for the
same steps, once with ``train.distill.teacher`` and once without. The training clips are deterministic
(no augmentation, 8-frame clips sampled at T = 8), so the teacher's logits are computed once and cached
in the run folder; a resumed distillation run reads them back.
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from peclip.cli import main
from peclip.train.distill import CACHE_FILE, DistillConfig, distillation_loss

QUIET = ["--set", "train.progress=false", "--set", "run.tensorboard=false"]




def _results(run):
    return json.loads((run / "results.json").read_text())


def test_distillation_loss_is_the_weighted_sum_of_tempered_kl_and_cross_entropy():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 2])
    cfg = DistillConfig(teacher="unused", temperature=2.0, kl_weight=0.7, ce_weight=0.3)
    p_t = torch.softmax(teacher / 2, dim=-1)
    kl = (p_t * (p_t.log() - torch.log_softmax(student / 2, dim=-1))).sum(dim=-1).mean() * 4
    ce = torch.nn.functional.cross_entropy(student, labels)
    torch.testing.assert_close(distillation_loss(student, teacher, labels, cfg), 0.7 * kl + 0.3 * ce)
    assert float(distillation_loss(teacher, teacher, labels, DistillConfig("x", kl_weight=1.0, ce_weight=0.0))) == 0.0
    with pytest.raises(ValueError, match="temperature"):
        DistillConfig(teacher="x", temperature=0)


@pytest.mark.slow
def test_distilled_light_student_learns_the_motion_task_and_keeps_its_teacher_cache(tmp_path, one_thread, capsys):
    # the teacher: tiny PE-CLIP on the motion task, the `synthetic` recipe as it is (with fewer clips or epochs
    # its start-up plateau can outlast the run, docs/training.md)
    assert main(["train", "--recipe", "synthetic", "--output-dir", str(tmp_path), "--name", "teacher", *QUIET]) == 0
    teacher = _results(tmp_path / "teacher")
    assert teacher["last"]["war"] >= 90.0, teacher
    # the students: the same clips (same synthetic seed), half the recipe's epochs, with and without the teacher
    student_args = ["train", "--recipe", "synthetic-light", "--output-dir", str(tmp_path), *QUIET,
                    "--set", "train.epochs=3", "--set", "train.schedule.t_initial=3"]
    assert main([*student_args, "--name", "distilled", "--set", f"train.distill.teacher={tmp_path / 'teacher'}"]) == 0
    assert main([*student_args, "--name", "plain"]) == 0
    capsys.readouterr()
    distilled, plain = _results(tmp_path / "distilled"), _results(tmp_path / "plain")
    print(f"teacher {teacher['last']['war']:.1f} %, distilled student {distilled['last']['war']:.1f} %, "
          f"plain student {plain['last']['war']:.1f} %")
    assert distilled["last"]["war"] >= 90.0, distilled
    # the teacher's logits were cached once per training clip, and they are the teacher's
    cache = load_file(str(tmp_path / "distilled" / CACHE_FILE))["logits"]
    assert cache.shape == (256, 2)
    assert not (tmp_path / "plain" / CACHE_FILE).exists()
