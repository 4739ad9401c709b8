"""``peclip info`` prints the per-component parameter counts."""

import json

from peclip.cli import main


def test_info_reports_components_and_totals(capsys):
    assert main(["info", "test-peclip-vit-b16", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trainable"] == sum(v for k, v in report["components"].items() if not k.startswith("frozen"))
    assert report["total"] == report["trainable"] + report["frozen"]
    assert "adapters: vision TDA" in report["components"]


def test_info_applies_overrides_and_reports_bad_ones_without_a_traceback(capsys):
    assert main(["info", "test-peclip-vit-b16", "--set", "temporal.enabled=false", "--json"]) == 0
    assert "adapters: vision TDA" not in json.loads(capsys.readouterr().out)["components"]
    assert main(["info", "test-peclip-vit-b16", "--set", "temporal.rnn=lstmx"]) == 2
    assert "temporal.rnn='lstmx' is not valid" in capsys.readouterr().err
