"""The LR schedules reproduce docs/spec.md 3.1's table and timm's CosineLRScheduler as the official code steps it."""

import pytest
import torch

from peclip.train.schedule import ScheduleConfig, lr_at_epoch, set_epoch_lr

# docs/spec.md 3.1, "Effective per-epoch LRs": epoch -> (adapter LR, prompt LR)
SPEC_TABLE = {
    0: (2.00e-5, 2.00e-5), 1: (2.00e-5, 2.00e-5), 2: (8.00e-5, 2.33e-5), 3: (1.40e-4, 2.67e-5),
    4: (1.95e-4, 2.93e-5), 10: (1.59e-4, 2.38e-5), 16: (1.00e-4, 1.50e-5), 20: (5.93e-5, 8.90e-6),
    25: (1.91e-5, 2.87e-6), 29: (2.19e-6, 3.28e-7), 31: (0.0, 0.0), 40: (0.0, 0.0),
}


@pytest.mark.parametrize("epoch", sorted(SPEC_TABLE))
def test_cosine_schedule_matches_spec_table(epoch):
    cfg = ScheduleConfig()
    adapters, prompts = SPEC_TABLE[epoch]
    assert lr_at_epoch(epoch, 2e-4, cfg) == pytest.approx(adapters, rel=5e-3, abs=1e-12)
    assert lr_at_epoch(epoch, 3e-5, cfg) == pytest.approx(prompts, rel=5e-3, abs=1e-12)


def test_cosine_schedule_equals_timm_stepped_like_the_official_script():
    scheduler_mod = pytest.importorskip("timm.scheduler")
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW([{"params": [params[0]], "lr": 2e-4}, {"params": [params[1]], "lr": 3e-5}])
    timm_sched = scheduler_mod.CosineLRScheduler(opt, t_initial=30, warmup_t=3, warmup_lr_init=2e-5)
    cfg = ScheduleConfig()
    for epoch in range(35):
        expected = [g["lr"] for g in opt.param_groups]  # the rate this epoch trains at
        assert [lr_at_epoch(epoch, base, cfg) for base in (2e-4, 3e-5)] == pytest.approx(expected, rel=1e-12)
        timm_sched.step(epoch)  # after train + eval, as FERPAmainmxp.py does


def test_step_schedule_equals_torch_steplr():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1e-4)
    torch_sched = torch.optim.lr_scheduler.StepLR(opt, step_size=8, gamma=0.5)
    cfg = ScheduleConfig(name="step", step_size=8, gamma=0.5)
    for epoch in range(25):
        assert lr_at_epoch(epoch, 1e-4, cfg) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        torch_sched.step()


def test_set_epoch_lr_uses_each_groups_initial_rate():
    opt = torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 2e-4, "initial_lr": 2e-4},
                             {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 3e-5, "initial_lr": 3e-5}])
    rates = set_epoch_lr(opt, 4, ScheduleConfig())
    assert rates == pytest.approx([1.95e-4, 2.93e-5], rel=5e-3)
    assert [g["lr"] for g in opt.param_groups] == rates


def test_schedule_config_rejects_unknown_name_with_choices():
    with pytest.raises(ValueError, match="cosine, step, constant"):
        ScheduleConfig(name="linear")
