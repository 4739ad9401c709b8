"""``peclip info`` prints the per-component parameter counts (checked against fixed, hand-derived numbers)."""

import json

from peclip.cli import main

# test-peclip-vit-b16: 3 layers per tower, width 64 in both towers, bottleneck 64 / 8 = 8, prompts of
# length 2 and depth 3 (see model_configs/test-peclip-vit-b16.json). Per layer:
#   ShA / TA = (64*8 + 8) + (8*64 + 64) = 1,096                       -> x3 = 3,288
#   TDA = LayerNorm(2*64) 128 + scale (64 + 1) 65 + ShA-sized 1,096 + GRU(8->8) 3*(8*8 + 8*8 + 8 + 8) 432
#       = 1,721                                                      -> x3 = 5,163
TINY = {
    "frozen text tower": 3_319_169,
    "frozen vision tower": 201_792,
    "adapters: vision ShA": 3_288,
    "adapters: vision TDA": 5_163,
    "adapters: text ShA": 3_288,
    "adapters: text TA": 3_288,
    "prompts: text context": 256,
    "prompts: V-L coupling": 8_320,
}


def test_info_reports_each_component_and_the_totals(capsys):
    assert main(["info", "test-peclip-vit-b16", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["components"] == TINY
    assert (report["frozen"], report["trainable"], report["total"]) == (3_520_961, 23_603, 3_544_564)


def test_info_applies_model_overrides_with_or_without_the_model_prefix(capsys):
    for key in ("model.temporal.enabled=false", "temporal.enabled=false"):
        assert main(["info", "test-peclip-vit-b16", "--set", key, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert "adapters: vision TDA" not in report["components"]
        assert report["trainable"] == 23_603 - 5_163


def test_info_reports_bad_overrides_without_a_traceback(capsys):
    assert main(["info", "test-peclip-vit-b16", "--set", "temporal.rnn=lstmx"]) == 2
    assert "temporal.rnn='lstmx' is not valid" in capsys.readouterr().err
    assert main(["info", "test-peclip-vit-b16", "--set", "train.epochs=3"]) == 2
    assert "peclip info takes model.* settings only" in capsys.readouterr().err
