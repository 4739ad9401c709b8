"""Light-model speed on the CPU: ms per frame (fp32 / int8 / onnxruntime, 1 and 2 threads) and end-to-end predict.

    python benchmarks/bench_light.py [--model shuffvit-dfer] [--frames 8] [--steps 10] [--video PATH]
                                     [--json out.json]

1. The model alone: one clip of ``--frames`` 224x224 frames through ``shuffvit-dfer`` (random weights;
   speed does not depend on them), as torch fp32, torch int8 (``quantize_dynamic`` of the Linear and
   GRU layers: the convolutions stay fp32), onnxruntime fp32 and onnxruntime int8 (dynamic
   quantisation of the exported graph), each at 1 and 2 threads. The modes are timed interleaved, so
   a load change on a shared machine hits all of them alike; the median over ``--steps`` is reported.
2. End to end: ``peclip.predict_video`` on the video (default ``../shared/data/WolfgangLanger_Pexels.mp4``,
   19.7 s, 472 frames at 640x360) with the face stage (decode, the default detector with tracking,
   alignment and crop), torch and onnxruntime engines, twice: at the default 2 s windows every 1 s (one
   model frame per window) and with every video frame scored (one-frame windows at every frame):
   video-s/s and video frames/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip.data.video import open_video  # noqa: E402
from peclip.predict.onnx import OnnxModel, export_onnx  # noqa: E402

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "WolfgangLanger_Pexels.mp4"


def onnx_int8(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic  # optional part of onnxruntime

    # MatMul/Gemm only: the exported convolutions take weights computed in the graph, which dynamic
    # quantisation cannot handle (and convolutions gain little from it)
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    return dst


def with_metadata_of(src: Path, dst: Path) -> None:
    """Copy peclip's metadata onto a quantised graph, so OnnxModel reads it."""
    import onnx

    a, b = onnx.load(str(src)), onnx.load(str(dst))
    del b.metadata_props[:]
    b.metadata_props.extend(a.metadata_props)
    onnx.save(b, str(dst))


def model_speed(name: str, frames: int, steps: int, workdir: Path) -> list[dict]:
    torch.manual_seed(0)
    model = peclip.create_model(name, num_frames=frames).eval()
    fp32_onnx = export_onnx(model, workdir / "fp32.onnx")
    int8_onnx = onnx_int8(fp32_onnx, workdir / "int8.onnx")
    with_metadata_of(fp32_onnx, int8_onnx)
    int8_torch = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear, torch.nn.GRU}, dtype=torch.qint8)
    video = torch.rand(1, frames, 3, 224, 224)  # (B, T, 3, S, S)
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        runners = {"torch fp32": model, "torch int8": int8_torch, "onnxruntime fp32": OnnxModel(fp32_onnx, threads),
                   "onnxruntime int8": OnnxModel(int8_onnx, threads)}
        times: dict[str, list[float]] = {k: [] for k in runners}
        with torch.inference_mode():
            for run in runners.values():  # warm-up
                run(video)
            for _ in range(steps):
                for mode, run in runners.items():
                    start = time.perf_counter()
                    run(video)
                    times[mode].append(time.perf_counter() - start)
        for mode, values in times.items():
            ms = 1000 * statistics.median(values) / frames
            rows.append({"threads": threads, "mode": mode, "ms_per_frame": round(ms, 2),
                         "frames_per_s": round(1000 / ms, 1)})
            print(f"{threads} thread(s)  {mode:<18} {ms:7.2f} ms/frame  ({1000 / ms:6.1f} frames/s)", flush=True)
    return rows


def end_to_end(name: str, video: Path, workdir: Path, threads: int) -> list[dict]:
    """``predict`` with the face stage, at the default windows (one model frame per 2 s window, every
    1 s) and with every video frame scored (a one-frame window per frame)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = peclip.create_model(name).eval()
    onnx_file = export_onnx(model, workdir / "e2e.onnx")
    rows = []
    engines = (("torch", model), ("onnxruntime", OnnxModel(onnx_file, threads)))
    with open_video(video) as reader:
        step = 1.0 / reader.fps  # one frame's duration: a window of one frame at every frame
    for windows, settings in (("default", {}), ("every frame", {"window": step, "stride": step, "batch_size": 16})):
        for engine, m in engines:
            result = peclip.predict_video(m, video, **settings)
            fps = result.num_video_frames / result.elapsed
            rows.append({"windows": windows, "engine": engine, "threads": threads, "scored": len(result.starts),
                         "video_s_per_s": round(result.speed, 2), "frames_per_s": round(fps, 1),
                         "frames": result.num_video_frames, "seconds": round(result.elapsed, 1)})
            print(f"end to end, {windows} windows ({len(result.starts)} scored), {engine}, {threads} thread(s): "
                  f"{result.speed:.2f} video-s/s, {fps:.1f} video frames/s ({result.num_video_frames} frames in "
                  f"{result.elapsed:.1f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="shuffvit-dfer")
    parser.add_argument("--frames", type=int, default=8, help="frames per timed forward pass")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    info = common.machine_info(torch.device("cpu"))
    print(json.dumps(info))
    with tempfile.TemporaryDirectory() as tmp:
        out = {"machine": info, "model": model_speed(args.model, args.frames, args.steps, Path(tmp))}
        if args.video.is_file():
            out["end_to_end"] = end_to_end(args.model, args.video, Path(tmp), 2)
        else:
            print(f"{args.video} not found: end-to-end part skipped")
    out["load_average_after"] = common.machine_info(torch.device("cpu"))["load_average"]
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
