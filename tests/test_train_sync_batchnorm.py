"""``train.sync_batchnorm``: under DDP on CUDA the light models' BatchNorm layers see the whole global batch;
on the CPU (no SyncBatchNorm in torch) each process keeps its own statistics."""

import logging

import pytest
import torch

import peclip
from model_helpers import tiny_model
from peclip.train.config import TrainConfig
from peclip.train.trainer import sync_batchnorm


def _batchnorms(model: torch.nn.Module) -> dict[str, type]:
    return {name: type(m) for name, m in model.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


def test_a_light_model_under_cuda_ddp_gets_synchronised_batchnorm_with_the_same_parameters_and_keys():
    torch.manual_seed(0)
    model = peclip.create_model("test-shuffvit-dfer-t")
    before = _batchnorms(model)
    keys = list(model.state_dict())
    params = {name: p.data_ptr() for name, p in model.named_parameters()}
    converted = sync_batchnorm(model, torch.device("cuda"), enabled=True)  # converting needs no GPU
    after = _batchnorms(converted)
    assert before and set(after) == set(before)
    assert all(kind is torch.nn.SyncBatchNorm for kind in after.values())
    assert list(converted.state_dict()) == keys  # checkpoints read the same
    assert {name: p.data_ptr() for name, p in converted.named_parameters()} == params  # the optimizer's tensors


def test_batchnorm_stays_per_process_on_the_cpu_or_when_switched_off(caplog):
    torch.manual_seed(0)
    model = peclip.create_model("test-shuffvit-dfer-t")
    with caplog.at_level(logging.INFO, logger="peclip"):
        assert sync_batchnorm(model, torch.device("cpu"), enabled=True) is model
    assert "no SyncBatchNorm on the CPU" in caplog.text
    assert torch.nn.SyncBatchNorm not in _batchnorms(model).values()
    assert sync_batchnorm(model, torch.device("cuda"), enabled=False) is model
    assert torch.nn.SyncBatchNorm not in _batchnorms(model).values()


def test_pe_clip_without_batchnorm_is_left_alone():
    model = tiny_model()
    assert not _batchnorms(model)
    assert sync_batchnorm(model, torch.device("cuda"), enabled=True) is model


def test_sync_batchnorm_must_be_a_boolean():
    with pytest.raises(ValueError, match="train.sync_batchnorm='yes' must be true or false"):
        TrainConfig(sync_batchnorm="yes")
