"""``benchmarks/gpu_check.py``: without CUDA it says so and exits 0; its checks run (as a CPU dry run)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_prints_one_line_and_exits_0(monkeypatch, capsys):
    gpu_check = _load()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("gpu_check: no CUDA device here")


def test_the_command_itself_exits_0_on_a_machine_without_cuda():
    if torch.cuda.is_available():
        return  # on a GPU machine the command runs the checks instead (minutes)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SCRIPT.parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device here" in done.stdout


def test_cpu_dry_run_exercises_the_checks_and_prints_the_table(tmp_path, capsys):
    gpu_check = _load()
    out = tmp_path / "rows.json"
    code = gpu_check.main(["--device", "cpu", "--model", "test-peclip-vit-b16", "--steps", "3", "--batch-size", "2",
                           "--json", str(out)])
    printed = capsys.readouterr().out
    rows = {r["check"]: r for r in json.loads(out.read_text())["rows"]}
    assert code == 0, printed
    assert "| check | result | step s | clips/s | peak GiB | detail |" in printed
    assert rows["train bf16"]["ok"] and rows["train bf16"]["figures"]["losses"][-1] < rows["train bf16"]["figures"][
        "losses"][0]
    assert rows["fused attention = math"]["ok"] and rows["activation checkpointing"]["ok"]
    assert rows["predict on cpu"]["ok"] and rows["int8 refused on cuda"]["ok"]
    assert rows["torch.compile"]["ok"] is None  # CUDA only
