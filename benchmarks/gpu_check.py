"""One GPU check: every CUDA code path of peclip once, with one table of results.

    python benchmarks/gpu_check.py [--steps 10] [--batch-size 4] [--json out.json]

On a machine with CUDA (one GPU, a few minutes) it runs, each as a pass/fail row:

* ``train bf16``: bf16-autocast train steps of peclip-vit-b16 (random CLIP) at batch 4 x 16 frames on
  one fixed batch; passes when the loss goes down. Step time, clips/s and peak memory beside the
  same steps in the reference mode (the official code's way: fp32, math attention, leaky GRU, no
  shortcuts; :func:`peclip.perf.reference_model`) measured in the same run, with the ratios.
* ``fused attention``: logits with the fused SDPA kernels equal those with the math kernel (fp32, and bf16).
* ``checkpointing``: activation checkpointing gives the same gradients and needs less peak memory.
* ``torch.compile``: the compiled model's logits equal eager ones; one compiled train step runs.
* ``torchrun``: ``torchrun --nproc_per_node=N peclip train`` on the synthetic recipe, then ``--resume``
  to one more epoch; N = 2 where two GPUs exist (NCCL), else 1 (no process group: NCCL not exercised).
* ``predict``: ``peclip predict --device cuda`` on a generated clip, probabilities equal to CPU ones.
* ``int8 refusal``: ``peclip predict --int8 --device cuda`` is refused with its message.

Without CUDA it prints one "no CUDA" line and exits 0 (there is nothing to check).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip.cli import main as cli  # noqa: E402
from peclip.data.synthetic import MotionSpec, motion_clip  # noqa: E402
from peclip.perf import configure_default, math_attention, reference_model  # noqa: E402
from peclip.precision import autocast  # noqa: E402

NO_CUDA = "gpu_check: no CUDA device here (torch {torch}, CUDA build {cuda}); nothing to check, run it on a GPU machine"


@dataclass
class Row:
    check: str
    ok: bool | None = None  # None: not run
    detail: str = ""
    figures: dict = field(default_factory=dict)


def _batch(batch: int, frames: int, size: int, classes: int, device: torch.device):
    gen = torch.Generator().manual_seed(0)
    video = torch.rand(batch, frames, 3, size, size, generator=gen).to(device)  # (B, T, 3, H, W)
    return video, torch.randint(0, classes, (batch,), generator=gen).to(device)


def _train_steps(model, video, labels, steps: int, dtype, device, math: bool = False) -> dict:
    """``steps`` AdamW steps on one fixed batch; losses, median step time, clips/s, peak memory."""
    opt = torch.optim.AdamW([{"params": p, "lr": 1e-3} for p in model.param_groups().values()])
    model.train()
    losses, times = [], []
    _reset_peak(device)
    for _ in range(steps):
        common.sync(device)
        start = time.perf_counter()
        with (math_attention() if math else autocast(device, dtype)):
            loss = F.cross_entropy(model(video).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        common.sync(device)
        times.append(time.perf_counter() - start)
        losses.append(float(loss.detach()))
    step = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]  # median after the first
    return {"losses": losses, "step_s": step, "clips_per_s": video.shape[0] / step,
            "peak_gib": _peak_gib(device)}


def check_train(args, device) -> tuple[list[Row], peclip.PEClip, torch.Tensor]:
    torch.manual_seed(0)
    model = peclip.create_model(args.model).to(device)
    video, labels = _batch(args.batch_size, model.config.num_frames, model.sizes.image_size,
                           model.config.num_classes, device)
    ref = reference_model(model)
    fast = _train_steps(configure_default(model), video, labels, args.steps, torch.bfloat16, device)
    slow = _train_steps(ref, video, labels, max(3, args.steps // 3), torch.float32, device, math=True)
    del ref
    down = fast["losses"][-1] < fast["losses"][0]
    rows = [Row("train bf16", down, f"loss {fast['losses'][0]:.3f} -> {fast['losses'][-1]:.3f}", fast),
            Row("train reference (fp32, math)", True, f"loss {slow['losses'][0]:.3f} -> {slow['losses'][-1]:.3f}",
                slow)]
    rows[0].detail += (f"; vs reference: {slow['step_s'] / fast['step_s']:.2f}x clips/s, "
                       f"{fast['peak_gib'] / slow['peak_gib']:.2f}x peak memory")
    return rows, model, video


def check_attention(model, video, device) -> Row:
    model.eval()
    clip = video[:2]
    with torch.no_grad():
        fused = model(clip)
        with math_attention():
            math = model(clip)
        with autocast(device, "bf16"):
            fused_bf16 = model(clip).float()
            with math_attention():
                math_bf16 = model(clip).float()
    d32, d16 = (fused - math).abs().max().item(), (fused_bf16 - math_bf16).abs().max().item()
    return Row("fused attention = math", d32 < 1e-3 and d16 < 0.5, f"max |logit diff| fp32 {d32:.2e}, bf16 {d16:.2e}")


def check_checkpointing(model, video, device) -> Row:
    model.train()
    clip = video[:2]
    grads, peaks = [], []
    for on in (False, True):
        model.grad_checkpointing = on
        model.zero_grad(set_to_none=True)
        _reset_peak(device)
        with autocast(device, "bf16"):
            loss = model(clip).float().logsumexp(-1).sum()
        loss.backward()
        peaks.append(_peak_gib(device))
        grads.append(torch.cat([p.grad.flatten().float() for p in model.trainable_parameters()]))
    model.grad_checkpointing = False
    rel = ((grads[0] - grads[1]).norm() / grads[0].norm()).item()
    less = peaks[1] < peaks[0] or device.type != "cuda"  # peak memory is measured on CUDA only
    return Row("activation checkpointing", rel < 1e-2 and less,
               f"grad rel diff {rel:.1e}; peak {peaks[0]:.2f} -> {peaks[1]:.2f} GiB", {"peak_gib": peaks[1]})


def check_compile(model, video, device) -> Row:
    model.eval()
    clip = video[:2]
    start = time.perf_counter()
    compiled = torch.compile(model)
    with torch.no_grad():
        eager, got = model(clip), compiled(clip)
    common.sync(device)
    diff = (eager - got).abs().max().item()
    compiled.train()
    with autocast(device, "bf16"):
        loss = compiled(clip).float().logsumexp(-1).sum()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return Row("torch.compile", diff < 1e-3 and bool(torch.isfinite(loss)),
               f"max |logit diff| {diff:.2e}; compile + 1 train step {time.perf_counter() - start:.0f} s")


def check_torchrun(work: Path) -> Row:
    """``torchrun`` training on the synthetic recipe, then ``--resume`` for one more epoch.

    With one GPU, ``--nproc_per_node=1`` gives WORLD_SIZE 1, where peclip forms no process group, so
    NCCL itself only runs with two or more GPUs (two ranks cannot share one GPU under NCCL).
    """
    nproc = min(2, torch.cuda.device_count())
    run = work / "runs" / "torchrun"
    base = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "-m", "peclip.cli", "train"]
    first = base + ["--recipe", "synthetic", "--set", "train.device=cuda", "--set", "train.epochs=2", "--set",
                    "synthetic.num_train=64", "--set", "synthetic.num_test=32", "--set", "train.progress=false",
                    "--output-dir", str(work / "runs"), "--name", "torchrun"]
    again = base + ["--resume", str(run), "--set", "train.epochs=3"]
    logs = ""
    for cmd in (first, again):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        logs += done.stdout + done.stderr
        if done.returncode:
            return Row(f"torchrun x{nproc} train + resume", False, f"rc {done.returncode}: {logs[-300:]}")
    results = json.loads((run / "results.json").read_text())
    nccl = "nccl" in logs
    where = "NCCL process group" if nccl else "world size 1: no process group, NCCL not exercised (needs 2 GPUs)"
    return Row(f"torchrun x{nproc} train + resume", results["epochs"] == 3 and (nccl or nproc == 1),
               f"{where}; resumed to epoch {results['epochs']}, test UAR {results['selected']['uar']:.1f}")


def _write_video(path: Path, frames: int = 48, fps: int = 24, size: int = 64) -> Path:
    """A 2-second mpeg4 clip of a square moving right (the synthetic task), for predict."""
    spec = MotionSpec(num_classes=2, num_frames=frames, size=size)
    clip = motion_clip(0, spec, np.random.default_rng(0))  # (T, H, W, 3) uint8
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height = stream.width = size
        stream.pix_fmt = "yuv420p"
        for image in clip:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _probabilities(folder: Path) -> np.ndarray:
    rows = []
    for path in sorted(folder.rglob("*.csv")):
        with open(path, newline="") as fh:
            rows += [[float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(fh)]
    return np.asarray(rows)


def check_predict(work: Path, device: torch.device) -> list[Row]:
    video = _write_video(work / "moving.mp4")
    torch.manual_seed(0)
    model = peclip.create_model("test-peclip-vit-b16", classes=["right", "left"], text_kind="names", num_frames=8)
    ckpt = work / "ckpt"
    peclip.save(model, ckpt, {"init_seed": 0})
    probs = {}
    for name in ("cpu", str(device)):
        code = cli(["predict", str(video), "--checkpoint", str(ckpt), "--device", name, "--no-face-detection",
                    "--no-plot", "-o", str(work / f"pred-{name}")])
        if code:
            return [Row(f"predict on {device}", False, f"peclip predict --device {name} returned {code}")]
        probs[name] = _probabilities(work / f"pred-{name}")
    ours, cpu = probs[str(device)], probs["cpu"]
    same = ours.shape == cpu.shape and cpu.size > 0
    diff = float(np.abs(cpu - ours).max()) if same else float("nan")
    rows = [Row(f"predict on {device}", same and diff < 1e-3,
                f"{ours.shape[0]} windows; max |p_{device} - p_cpu| {diff:.1e}")]
    code = cli(["predict", str(video), "--checkpoint", str(ckpt), "--device", "cuda", "--int8", "-o",
                str(work / "pred-int8")])
    rows.append(Row("int8 refused on cuda", code == 2, f"peclip predict --int8 --device cuda returned {code}"))
    rows.append(Row("live on cuda", None, "not run: this peclip has no live command"))
    return rows


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


def _guard(name: str, fn, *args):
    try:
        result = fn(*args)
    except Exception as err:  # a check that crashes is a failed row, and the others still run
        traceback.print_exc()
        return Row(name, False, f"{type(err).__name__}: {str(err)[:200]}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="peclip-vit-b16")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=10, help="bf16 train steps on the fixed batch (default 10)")
    p.add_argument("--skip-torchrun", action="store_true")
    p.add_argument("--json", help="also write the rows as JSON here")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: a dry run of this script's logic with a tiny model (figures mean nothing; no compile, "
                        "no torchrun)")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA.format(torch=torch.__version__, cuda=torch.version.cuda or "none"))
        return 0
    device = torch.device(args.device)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="peclip-gpu-check-"))
    rows: list[Row] = []
    try:
        trained = _guard("train bf16", check_train, args, device)
        if isinstance(trained, Row):
            rows.append(trained)
        else:
            train_rows, model, video = trained
            rows += train_rows
            rows.append(_guard("fused attention = math", check_attention, model, video, device))
            rows.append(_guard("activation checkpointing", check_checkpointing, model, video, device))
            rows.append(_guard("torch.compile", check_compile, model, video, device) if device.type == "cuda"
                        else Row("torch.compile", None, "not run on the CPU dry run"))
            del model, video
            torch.cuda.empty_cache()
        if not args.skip_torchrun and device.type == "cuda":
            rows.append(_guard("torchrun train + resume", check_torchrun, work))
        predicted = _guard(f"predict on {device}", check_predict, work, device)
        rows += [predicted] if isinstance(predicted, Row) else predicted
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = common.machine_info(device)
    where = info.get("gpu") or f"CPU (dry run: {info['cpu']})"
    print(f"\ngpu_check on {where} (torch {torch.__version__}), {time.perf_counter() - started:.0f} s")
    table = [{"check": r.check, "result": {True: "PASS", False: "FAIL", None: "skip"}[r.ok],
              "step s": f"{r.figures['step_s']:.3f}" if "step_s" in r.figures else "",
              "clips/s": f"{r.figures['clips_per_s']:.1f}" if "clips_per_s" in r.figures else "",
              "peak GiB": f"{r.figures['peak_gib']:.2f}" if "peak_gib" in r.figures else "",
              "detail": r.detail} for r in rows]
    print(common.table(table, ["check", "result", "step s", "clips/s", "peak GiB", "detail"]))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "rows": [r.__dict__ for r in rows]}, indent=2,
                                              default=str))
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
