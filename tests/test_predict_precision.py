"""Inference precision: ``auto`` follows the CPU's bf16 support, bf16 keeps class texts and softmax in fp32."""

from __future__ import annotations

import logging

import pytest
import torch

from model_helpers import activate_tda, random_video, tiny_model
from peclip import perf, precision
from peclip.predict.int8 import probabilities
from peclip.predict.models import for_precision
from peclip.predict.options import PredictOptions


@pytest.mark.parametrize(("support", "expected"), [("avx512_bf16", "bf16"), ("amx_bf16", "bf16"), (None, "fp32")])
def test_auto_follows_the_cpus_bf16_support_and_says_so(monkeypatch, caplog, support, expected):
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: support)
    with caplog.at_level(logging.INFO, logger="peclip.precision"):
        assert precision.resolve_inference_precision("auto", "cpu") == expected
    said = caplog.text
    assert (f"this CPU has {support}" in said) if support else ("reports no native bf16" in said)


def test_explicit_precisions_and_their_errors(monkeypatch, caplog):
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: None)
    assert precision.resolve_inference_precision("fp32", "cpu") == "fp32"
    assert precision.resolve_inference_precision("int8", "cpu") == "int8"
    with caplog.at_level(logging.WARNING, logger="peclip.precision"):
        assert precision.resolve_inference_precision("bf16", "cpu") == "bf16"
    assert "emulated and slower than fp32" in caplog.text
    with pytest.raises(ValueError, match="CPU inference path"):
        precision.resolve_inference_precision("int8", "meta")
    with pytest.raises(ValueError, match="auto, bf16, fp32, int8"):
        precision.resolve_inference_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="auto, bf16, fp32, int8"):
        PredictOptions(precision="half")


def test_cpu_probe_reads_the_flags_of_proc_cpuinfo():
    found = precision.cpu_bf16_support()
    assert found in (None, *precision.CPU_BF16_FLAGS, "onednn-bf16")


def test_bf16_agrees_with_fp32_and_keeps_class_texts_fp32():
    model = tiny_model()
    activate_tda(model)
    clips = random_video(8, 4)
    result = perf.agreement(model, clips.split(4), "bf16")
    # Measured on this model and these clips: top-1 agreement 1.0, max |prob diff| 0.0053.
    assert result.top1_agreement >= 0.9 and 0 < result.max_prob_diff < 0.05

    probs = probabilities(model, [clips[:2]], "bf16")
    assert probs.dtype == torch.float32
    assert model.encode_classes().dtype == torch.float32  # cached outside autocast


def test_for_precision_prepares_once_and_records_what_it_chose(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: None)
    model = tiny_model("test-clip-vit-b16")
    prepared = for_precision(model, "auto")
    assert prepared is model and model.inference_precision == "fp32"
    assert model._text_cache is not None  # class texts computed up front, in fp32
    assert for_precision(model, "auto") is model  # already prepared: nothing redone
    assert for_precision(model, "bf16").inference_precision == "bf16"


def test_a_folder_run_builds_the_model_and_the_class_texts_once(tmp_path, monkeypatch):
    import cv2
    import numpy as np

    from peclip import backbone
    from peclip.cli import main

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"face{i}.png"), np.random.default_rng(i).integers(0, 256, (40, 40, 3), np.uint8))
    calls = {"texts": 0}
    encode_texts = backbone.encode_texts

    def counting(*args, **kwargs):
        calls["texts"] += 1
        return encode_texts(*args, **kwargs)

    monkeypatch.setattr(backbone, "encode_texts", counting)
    code = main(["predict", str(tmp_path), "--model", "test-clip-vit-b16", "--no-face-detection", "--no-plot",
                 "--precision", "fp32", "-o", str(tmp_path / "out")])
    assert code == 0
    assert len(list((tmp_path / "out").glob("*.json"))) == 3
    assert calls["texts"] == 1
