"""Benchmark peclip against the official PE-CLIP code's way of running, in one process.

Modes:
  reference  what the official code does: fp32, the TDA's GRU over the flattened batch*frames axis,
             class texts recomputed on every forward, the full last vision block, unfused (math)
             attention, no torch.compile (see peclip.perf.reference_model)
  default    peclip's defaults: per-video GRU, cached class texts in eval, class-token-only last
             block, fused attention, bf16 autocast on CUDA (fp32 on CPU), optional torch.compile
             (--compile) and activation checkpointing (--grad-checkpointing)
  int8       (CPU inference, --int8) the default model with an int8 dynamically quantised vision tower

Parts (--parts): flops (FLOPs per clip, counted), text (class-text feature cost), infer (inference
clips/s), agreement (int8 vs fp32 predictions, with --int8), train (forward + backward + AdamW step).
Modes are timed in interleaved rounds and compared round by round, so load on a shared machine
hits every mode alike. Example (the README's CPU table):

  OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_model.py --model peclip-vit-b16 --frames 16 --batch-size 1 \
      --device cpu --threads 2 --int8 --json bench.json

Data-loading throughput is measured separately by benchmarks/bench_data.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip import perf  # noqa: E402
from peclip.adapters import TemporalDynamicAdapter  # noqa: E402

PARTS = ("flops", "text", "infer", "agreement", "train")
DTYPES = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="peclip-vit-b16", help="named model (random CLIP weights)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="auto",
                   help="default mode's autocast dtype; auto = bf16 on CUDA, fp32 on CPU (reference is always fp32)")
    p.add_argument("--steps", type=int, default=3, help="timed rounds per part")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per mode before the rounds")
    p.add_argument("--modes", default="reference,default", help="comma-separated: reference, default")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    p.add_argument("--int8", action="store_true", help="add the int8 CPU inference mode and its agreement study")
    p.add_argument("--agreement-clips", type=int, default=32)
    p.add_argument("--agreement-frames", type=int, default=None, help="frames per agreement clip (default --frames)")
    p.add_argument("--agreement-batch", type=int, default=4)
    p.add_argument("--compile", action="store_true", help="torch.compile the default mode's model")
    p.add_argument("--grad-checkpointing", action="store_true", help="checkpoint every block in default training")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for the default dtype (GPU)")
    p.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    bad = [m for m in args.modes if m not in ("reference", "default")] + [s for s in args.parts if s not in PARTS]
    if bad:
        p.error(f"unknown modes/parts {bad}; modes: reference, default; parts: {', '.join(PARTS)}")
    if args.int8 and torch.device(args.device).type != "cpu":
        p.error("--int8 is a CPU inference path; use --device cpu")
    return args


class Bench:
    """The models of every mode, built once with the same weights, and the figures measured on them."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.device = torch.device(args.device)
        dtype = DTYPES[args.dtype]
        self.dtype = dtype if dtype is not None else (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        torch.manual_seed(args.seed)
        model = peclip.create_model(args.model)
        # The TDA's up-projection starts at zero (an identity); give it nn.Linear's default draw so the
        # recurrence contributes and the GRU's axis matters in every comparison below.
        for adapter in model.adapters():
            if isinstance(adapter, TemporalDynamicAdapter):
                adapter.up_proj.reset_parameters()
        self.models: dict[str, peclip.PEClip] = {}
        if "reference" in args.modes:
            self.models["reference"] = perf.reference_model(model).to(self.device)
        if "default" in args.modes or args.int8:
            self.models["default"] = perf.configure_default(model, args.grad_checkpointing).to(self.device)
        self.fp32_default = model
        self.runners = dict(self.models)
        if args.compile and "default" in self.models:
            self.runners["default"] = torch.compile(self.models["default"])
        if args.int8:
            self.models["int8"] = perf.quantize_int8(model)
            self.runners["int8"] = self.models["int8"]
        size = model.sizes.image_size
        gen = torch.Generator().manual_seed(args.seed + 1)
        self.video = torch.rand(args.batch_size, args.frames, 3, size, size, generator=gen).to(self.device)
        self.labels = torch.randint(0, model.config.num_classes, (args.batch_size,), generator=gen).to(self.device)
        self.results: dict = {"machine": common.machine_info(self.device), "settings": self.settings()}

    def settings(self) -> dict:
        a = self.args
        return {"model": a.model, "frames": a.frames, "batch_size": a.batch_size, "device": str(self.device),
                "default_dtype": str(self.dtype).removeprefix("torch."), "steps": a.steps, "warmup": a.warmup,
                "compile": a.compile, "grad_checkpointing": a.grad_checkpointing}

    def context(self, mode: str) -> contextlib.ExitStack:
        """Attention kernel and autocast of a mode."""
        stack = contextlib.ExitStack()
        if mode == "reference":
            stack.enter_context(perf.math_attention())
        elif mode == "default":
            stack.enter_context(perf.autocast(self.device, self.dtype))
        return stack

    def mode_dtype(self, mode: str) -> torch.dtype:
        return self.dtype if mode == "default" else torch.float32

    # ------------------------------------------------------------------------------------- parts

    def flops(self) -> None:
        counts = {}
        for mode, model in self.models.items():
            if mode == "int8":
                continue  # same arithmetic as default, in int8
            c = perf.flops(model, self.args.frames)
            counts[mode] = c
            print(f"[flops] {mode}: vision {c.vision_forward / 2e9:.2f} GMACs/clip forward "
                  f"({c.vision_train / 2e9:.2f} forward+backward), text {c.text_forward / 2e9:.2f} GMACs per pass "
                  f"({c.text_train / 2e9:.2f} forward+backward)", flush=True)
        self.counts = counts
        self.results["flops"] = {m: vars(c) for m, c in counts.items()}

    def check_equal(self) -> None:
        """Reference and default logits: equal at batch 1 (same computation), may differ at batch > 1."""
        if not {"reference", "default"} <= set(self.models):
            return
        out = {}
        with torch.inference_mode():
            for mode in ("reference", "default"):
                self.models[mode].eval()
                with self.context(mode):
                    out[mode] = self.runners[mode](self.video[:1]).float()
            diff_1 = float((out["reference"] - out["default"]).abs().max())
            check = {"batch1_max_abs_logit_diff": diff_1}
            if self.args.batch_size > 1:
                for mode in ("reference", "default"):
                    with self.context(mode):
                        out[mode] = self.runners[mode](self.video).float()
                diff = (out["reference"] - out["default"]).abs().amax(dim=-1)
                check["batch_max_abs_logit_diff_per_clip"] = [float(d) for d in diff]
        print(f"[check] reference vs default logits at batch 1: max |diff| = {diff_1:.2e} "
              f"(fp32 rounding expected{'' if self.dtype == torch.float32 else f'; default runs in {self.dtype}'})")
        if "batch_max_abs_logit_diff_per_clip" in check:
            print(f"[check] at batch {self.args.batch_size}, per clip: "
                  + ", ".join(f"{d:.2e}" for d in check["batch_max_abs_logit_diff_per_clip"])
                  + " (the flattened GRU carries state from clip to clip; clip 0 matches)")
        self.results["check"] = check

    def text(self) -> None:
        """Cost of the class-text features: recomputed per forward (reference) vs cached (default)."""
        steps = {}
        for mode in ("reference", "default"):
            if mode not in self.models:
                continue
            model = self.models[mode].eval()

            def call(model=model, mode=mode):
                with torch.inference_mode(), self.context(mode):
                    model.encode_classes()
            steps[mode] = call
        times = common.interleaved(steps, self.args.warmup, self.args.steps, self.device, label="text")
        rows = {m: {"ms_per_forward": 1e3 * statistics.median(t["wall"]),
                    "cpu_ms_per_forward": 1e3 * statistics.median(t["cpu"]), "times": t} for m, t in times.items()}
        for m, row in rows.items():
            count = getattr(self, "counts", {}).get(m)
            row["gmacs_per_pass"] = count.text_forward / 2e9 if count else None
        self.results["text"] = rows
        for m, row in rows.items():
            print(f"[text] {m}: {row['ms_per_forward']:.2f} ms ({row['cpu_ms_per_forward']:.2f} CPU-ms) per forward "
                  f"({'recomputed every forward' if m == 'reference' else 'cached after the first'})")

    def infer(self) -> None:
        steps = {}
        for mode, runner in self.runners.items():
            self.models[mode].eval()

            def call(runner=runner, mode=mode):
                with torch.inference_mode(), self.context(mode):
                    runner(self.video)
            steps[mode] = call
        times = common.interleaved(steps, self.args.warmup, self.args.steps, self.device, label="infer")
        b = self.args.batch_size
        rows = {}
        for mode, t in times.items():
            wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
            rows[mode] = {"clips_per_s": b / wall, "ms_per_clip": 1e3 * wall / b, "cpu_s_per_clip": cpu / b,
                          "times": t}
            self._achieved(rows[mode], mode, self._infer_flops(mode), wall, cpu)
            rows[mode]["gflop_per_clip"] = _div(self._infer_flops(mode), 1e9 * b)
        if "reference" in times:
            for mode in times:
                rows[mode]["speedup_vs_reference"] = common.paired_ratio(times["reference"]["wall"],
                                                                         times[mode]["wall"])
                rows[mode]["cpu_time_speedup_vs_reference"] = common.paired_ratio(times["reference"]["cpu"],
                                                                                  times[mode]["cpu"])
        self.results["infer"] = rows

    def _achieved(self, row: dict, mode: str, flop: float | None, wall: float, cpu: float) -> None:
        """FLOP/s achieved and its fraction of the peak: per CPU second on CPU, per wall second on GPU."""
        if flop is None:
            return
        sec = cpu if self.device.type == "cpu" else wall
        row["achieved_gflops"] = flop / sec / 1e9
        peak = self._peak(mode)
        row["fraction_of_peak"] = flop / sec / peak if peak else None

    def _infer_flops(self, mode: str) -> float | None:
        counts = getattr(self, "counts", {})
        c = counts.get("default" if mode == "int8" else mode)
        if c is None:
            return None
        text = c.text_forward if mode == "reference" else 0  # cached in default / int8
        return self.args.batch_size * c.vision_forward + text

    def _peak(self, mode: str) -> float | None:
        if mode == "int8":
            return None  # not a floating-point peak
        dtype = self.mode_dtype(mode)
        if self.device.type == "cuda":
            if self.args.peak_tflops and mode == "default":
                return self.args.peak_tflops * 1e12
            return common.gpu_peak_flops(self.device, dtype)
        if dtype != torch.float32:
            return None
        if not hasattr(self, "_cpu_peak"):
            self._cpu_peak = common.matmul_peak_flops(self.device, torch.float32)
            self.results["cpu_fp32_matmul_peak_gflops"] = {k: v / 1e9 for k, v in self._cpu_peak.items()}
            print(f"[peak] measured fp32 2048^3 matrix product: {self._cpu_peak['wall'] / 1e9:.1f} GFLOP/s, "
                  f"{self._cpu_peak['cpu'] / 1e9:.1f} GFLOP per CPU-second", flush=True)
        return self._cpu_peak["cpu"]

    def agreement(self) -> None:
        if "int8" not in self.models:
            print("[agreement] skipped: needs --int8")
            return
        a = self.args
        frames = a.agreement_frames or a.frames
        size = self.fp32_default.sizes.image_size
        gen = torch.Generator().manual_seed(a.seed + 2)
        clips = torch.rand(a.agreement_clips, frames, 3, size, size, generator=gen)  # (N, T, 3, H, W)
        start = time.perf_counter()
        result = perf.int8_agreement(self.fp32_default, self.models["int8"], clips.split(a.agreement_batch))
        self.results["agreement"] = {**vars(result), "frames": frames}
        print(f"[agreement] int8 vs fp32 over {result.clips} random clips of {frames} frames: top-1 agreement "
              f"{result.top1_agreement:.3f}, max |prob diff| {result.max_prob_diff:.4f}, mean "
              f"{result.mean_prob_diff:.5f} ({time.perf_counter() - start:.0f} s)", flush=True)

    def train(self) -> None:
        steps, memory, optimizers = {}, {}, {}
        for mode in ("reference", "default"):
            if mode not in self.models:
                continue
            model = self.models[mode].train()
            groups = [{"params": params, "name": name} for name, params in model.param_groups().items() if params]
            opt = torch.optim.AdamW(groups, lr=1e-5)
            optimizers[mode] = opt

            def call(model=model, runner=self.runners[mode], opt=opt, mode=mode):
                opt.zero_grad(set_to_none=True)
                with self.context(mode):
                    logits = runner(self.video)
                loss = F.cross_entropy(logits.float(), self.labels)
                loss.backward()
                opt.step()
            steps[mode] = call

        # The last warm-up step of each mode is its memory probe: with --compile the first step compiles,
        # and its memory is the compiler's, not the training step's.
        warmup = max(self.args.warmup, 2 if self.args.compile else 1)

        @contextlib.contextmanager
        def probe(mode: str, i: int):
            if i < warmup - 1:
                yield
                return
            params = list(self.models[mode].parameters())
            state = common.tensor_bytes(v for s in optimizers[mode].state.values() for v in s.values())
            with common.PeakMemory(self.device) as peak, common.saved_activations(params) as saved:
                yield
            memory[mode] = {"step_peak_bytes": peak.peak_bytes, "saved_activation_bytes": saved["bytes"],
                            "optimizer_state_before_probe_bytes": state}

        times = common.interleaved(steps, warmup, self.args.steps, self.device, on_warmup=probe, label="train")
        b = self.args.batch_size
        rows = {}
        for mode, t in times.items():
            model, opt = self.models[mode], optimizers[mode]
            wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
            weights = common.tensor_bytes(model.parameters()) + common.tensor_bytes(model.buffers())
            grads = common.tensor_bytes(p.grad for p in model.parameters() if p.grad is not None)
            state = common.tensor_bytes(v for s in opt.state.values() for v in s.values())
            mem = memory.get(mode, {})
            row = {"clips_per_s": b / wall, "ms_per_step": 1e3 * wall, "cpu_s_per_step": cpu, "times": t,
                   "weight_bytes": weights,
                   "grad_bytes": grads, "optimizer_state_bytes": state,
                   "params_with_grad": sum(p.grad is not None for p in model.parameters()), **mem}
            if mem.get("step_peak_bytes") is not None:  # this mode alone in a process
                row["process_peak_bytes"] = weights + mem["optimizer_state_before_probe_bytes"] + mem["step_peak_bytes"]
            c = getattr(self, "counts", {}).get(mode)
            if c is not None:
                row["gflop_per_step"] = c.train_step(b) / 1e9
                self._achieved(row, mode, c.train_step(b), wall, cpu)
            rows[mode] = row
        if "reference" in times and "default" in times:
            ref, dflt = rows["reference"], rows["default"]
            dflt["speedup_vs_reference"] = common.paired_ratio(times["reference"]["wall"], times["default"]["wall"])
            dflt["cpu_time_speedup_vs_reference"] = common.paired_ratio(times["reference"]["cpu"],
                                                                        times["default"]["cpu"])
            for key in ("process_peak_bytes", "saved_activation_bytes"):
                if ref.get(key) and dflt.get(key) is not None:
                    dflt[key.removesuffix("_bytes") + "_ratio"] = dflt[key] / ref[key]
        self.results["train"] = rows

    # ------------------------------------------------------------------------------------ report

    def _rate_name(self) -> str:
        return "GFLOP per CPU-s" if self.device.type == "cpu" else "GFLOP/s"

    def report(self) -> str:
        r, s = self.results, self.results["settings"]
        m = r["machine"]
        where = m.get("gpu") or f"{m['cpu']} ({m['cpu_isa']}, {m['torch_threads']} threads)"
        lines = [f"## {s['model']}, {s['frames']} frames, batch {s['batch_size']}, {s['device']} ({where}), "
                 f"torch {m['torch']}, default dtype {s['default_dtype']}, {s['steps']} rounds, "
                 f"load average {m['load_average']} -> {m.get('load_average_end')}"]
        if "infer" in r:
            rows = [{"mode": k, "clips/s": v["clips_per_s"], "ms/clip": v["ms_per_clip"],
                     "CPU-s/clip": v["cpu_s_per_clip"], "GFLOP/clip": v.get("gflop_per_clip"),
                     self._rate_name(): v.get("achieved_gflops"), "of peak": v.get("fraction_of_peak"),
                     "x reference": v.get("speedup_vs_reference"),
                     "x reference (CPU time)": v.get("cpu_time_speedup_vs_reference")}
                    for k, v in r["infer"].items()]
            lines += ["", "### inference", common.table(rows, list(rows[0]))]
        if "train" in r:
            mb = 2**20
            rows = [{"mode": k, "clips/s": v["clips_per_s"], "ms/step": v["ms_per_step"],
                     "CPU-s/step": v["cpu_s_per_step"],
                     "step peak MiB": _div(v.get("step_peak_bytes"), mb),
                     "process peak MiB": _div(v.get("process_peak_bytes"), mb),
                     "saved activations MiB": _div(v.get("saved_activation_bytes"), mb),
                     "grads MiB": v["grad_bytes"] / mb, "AdamW state MiB": v["optimizer_state_bytes"] / mb,
                     "GFLOP/step": v.get("gflop_per_step"), self._rate_name(): v.get("achieved_gflops"),
                     "of peak": v.get("fraction_of_peak"), "x reference": v.get("speedup_vs_reference"),
                     "x reference (CPU time)": v.get("cpu_time_speedup_vs_reference"),
                     "memory x reference": v.get("process_peak_ratio")}
                    for k, v in r["train"].items()]
            lines += ["", "### training step (forward + backward + AdamW)", common.table(rows, list(rows[0]))]
        if "text" in r:
            rows = [{"mode": k, "ms per forward": v["ms_per_forward"], "CPU-ms per forward": v["cpu_ms_per_forward"],
                     "GMACs per pass": v["gmacs_per_pass"]}
                    for k, v in r["text"].items()]
            lines += ["", "### class-text features", common.table(rows, list(rows[0]))]
        if "flops" in r:
            rows = [{"mode": k, "vision GMACs/clip": v["vision_forward"] / 2e9,
                     "text GMACs/pass": v["text_forward"] / 2e9,
                     "train GMACs/clip (fwd+bwd)": v["vision_train"] / 2e9,
                     "text train GMACs (fwd+bwd)": v["text_train"] / 2e9} for k, v in r["flops"].items()]
            lines += ["", "### FLOPs (torch FlopCounterMode; SPEC 6.3 estimates 297 GMACs/clip, 21.7 text)",
                      common.table(rows, list(rows[0]))]
        if "agreement" in r:
            g = r["agreement"]
            lines += ["", f"int8 vs fp32: top-1 agreement {g['top1_agreement']:.3f}, max |prob diff| "
                          f"{g['max_prob_diff']:.4f}, mean {g['mean_prob_diff']:.5f} over {g['clips']} random "
                          f"clips of {g['frames']} frames"]
        return "\n".join(lines)


def _div(v, d):
    return None if v is None else v / d


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    bench = Bench(args)
    print(f"built {', '.join(bench.models)} in {time.perf_counter() - start:.1f} s; machine: "
          f"{bench.results['machine']}", flush=True)
    order = [p for p in ("flops", "text", "infer", "agreement", "train") if p in args.parts]
    if "infer" in order or "train" in order:
        bench.check_equal()
    for part in order:
        getattr(bench, part)()
    bench.results["machine"]["load_average_end"] = common.machine_info(bench.device)["load_average"]
    bench.results["wall_s"] = time.perf_counter() - start
    print()
    print(bench.report())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bench.results, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
