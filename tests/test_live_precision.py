"""``peclip live --precision``: the flag reaches the model, the live scorer runs at the precision the model was
prepared for, and contradicting flags are named."""

from __future__ import annotations

import pytest

from model_helpers import tiny_model
from peclip.cli import main
from peclip.predict.live.report import LiveStats
from peclip.predict.live.session import _Scorer
from peclip.predict.models import for_precision


def _scorer(model):
    return _Scorer(model=model, frame_cache=None, lossless=True, emit=lambda *a: None, stats=LiveStats())._scorer(0)


def test_the_live_scorer_runs_at_the_precision_the_model_was_prepared_for():
    assert _scorer(for_precision(tiny_model(), "bf16")).precision == "bf16"
    assert _scorer(for_precision(tiny_model(), "fp32")).precision == "fp32"


def test_live_passes_precision_to_the_model_build(monkeypatch):
    seen = {}

    def fake_build(request):
        seen["precision"] = request.precision
        raise SystemExit(0)  # stop before any stream is opened

    monkeypatch.setattr("peclip.predict.models.build_model", fake_build)
    with pytest.raises(SystemExit):
        main(["live", "0", "--model", "test-peclip-vit-b16", "--precision", "bf16"])
    assert seen["precision"] == "bf16"
    with pytest.raises(SystemExit):
        main(["live", "0", "--model", "test-peclip-vit-b16", "--int8"])  # the older spelling
    assert seen["precision"] == "int8"


def test_contradicting_precision_flags_are_named(capsys):
    assert main(["live", "0", "--model", "test-peclip-vit-b16", "--int8", "--precision", "bf16"]) == 2
    assert "--int8 and --precision bf16 disagree" in capsys.readouterr().err
