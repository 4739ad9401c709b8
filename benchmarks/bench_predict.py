"""Prediction speed: seconds of video processed per second, split into the face stage and the model stage.

    python benchmarks/bench_predict.py [--video PATH] [--models test-clip-vit-b16 clip-vit-b16 peclip-vit-b16]
                                       [--precisions fp32 bf16 int8] [--strides 1 2] [--end-to-end]
                                       [--device cpu] [--json out.json]
    python benchmarks/bench_predict.py --face-table [--seconds 10]   # the face stage per detector only

``--face-table`` times the face stage alone (decode, detect, track, align, crop at 224 px) per detector
and ``--detect-every`` k, in ms per frame, with a decode-only row as the floor; the rows are interleaved
in rounds and the median round is reported, so a loaded machine slows every row alike.

The video (default ``../shared/data/WolfgangLanger_Pexels.mp4``, 19.7 s at 640x360) is decoded and
face-tracked once per crop size, timed (the face stage: decoding + detection + tracking + cropping). The
model stage then windows and scores those frames (2 s windows, 1 s stride, T from the model) for
each model with random weights. For frame-independent models (plain CLIP: no TDA) it runs twice: with
the frame cache (the default: a frame shared by overlapping windows is encoded once) and without it
(the reference: every window encodes its own T frames), and prints the ratio. End to end =
face stage + model stage (what ``peclip predict`` costs without the overlay when the two run one
after the other).

Each model runs at every ``--precisions`` (fp32, bf16: autocast of the vision tower, int8: the
onnxruntime int8 vision tower) and every ``--strides``. With ``--end-to-end`` it also times
``predict_video`` itself, with the face stage on its own thread (``prefetch_frames``, the default)
and without (``prefetch_frames=0``), in the same run, and prints the ratio: the pipeline's gain.
The model's build and preparation (int8 export or cache read, class-text features) is timed as
start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip.predict import PredictOptions  # noqa: E402
from peclip.predict.models import for_precision  # noqa: E402
from peclip.predict.runner import predict_frames, predict_video  # noqa: E402
from peclip.predict.scorer import WindowScorer  # noqa: E402
from peclip.predict.source import FaceFrameSource  # noqa: E402

COLUMNS = ["model", "precision", "stride", "mode", "windows", "frames_encoded", "startup_s", "face_s", "model_s",
           "end_to_end_s", "model video-s/s", "end-to-end video-s/s"]
DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "WolfgangLanger_Pexels.mp4"


def face_stage(video: Path, size: int, seconds: float | None) -> tuple[list, float, float]:
    """The frames (with face crops at ``size``) of the first ``seconds`` of the video, their duration, and
    the seconds it took."""
    start = time.perf_counter()
    source = FaceFrameSource(video, size)
    frames = []
    for frame in source:
        if seconds is not None and frame.time >= seconds:
            break
        frames.append(frame)
    elapsed = time.perf_counter() - start
    duration = source.duration if seconds is None else min(seconds, source.duration)
    return frames, duration, elapsed


def face_table(video: Path, seconds: float | None, rounds: int = 3) -> list[dict]:
    """ms per frame of the face stage for each detector and detect-every setting (module docstring)."""
    from peclip.data.video import open_video
    from peclip.faces import FaceOptions

    settings = [("decode only", None, None)] + [(d, k, True) for d in ("retinaface", "haar") for k in (1, 2, 3)]
    times: dict[int, list[float]] = {i: [] for i in range(len(settings))}
    counts: dict[int, int] = {}
    for _ in range(rounds):
        for i, (detector, every, align) in enumerate(settings):
            start = time.perf_counter()
            if detector == "decode only":
                with open_video(video) as frames:
                    n = sum(1 for f in frames if seconds is None or f.time < seconds)
            else:
                options = FaceOptions(detector=detector, detect_every=every, align=align)
                n = 0
                for frame in FaceFrameSource(video, 224, face_options=options):
                    if seconds is not None and frame.time >= seconds:
                        break
                    n += 1
            times[i].append((time.perf_counter() - start) / n * 1000)
            counts[i] = n
    rows = []
    for i, (detector, every, align) in enumerate(settings):
        rows.append({"detector": detector, "detect_every": every or "", "align": "" if align is None else align,
                     "frames": counts[i], "ms/frame (median)": sorted(times[i])[len(times[i]) // 2],
                     "ms/frame (min)": min(times[i])})
    return rows


def model_stage(model: peclip.PEClip, frames: list, duration: float, frame_cache: bool | None,
                device: torch.device, stride: float = 1.0) -> dict:
    scorer = WindowScorer(model, frame_cache=frame_cache, precision=model.inference_precision)
    options = PredictOptions(stride=stride)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    entries = predict_frames(model, iter(frames), lambda: duration, options, scorer=scorer)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"windows": len(entries), "scored": sum(e.face for e in entries), "frames_encoded": scorer.frames_encoded,
            "model_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--models", nargs="+", default=["test-clip-vit-b16", "clip-vit-b16", "peclip-vit-b16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, help="use only the first SECONDS of the video (default: all)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "int8"])
    parser.add_argument("--strides", nargs="+", type=float, default=[1.0])
    parser.add_argument("--end-to-end", action="store_true",
                        help="also time predict_video with and without the face-stage thread")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--face-table", action="store_true", help="time the face stage per detector only")
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"{args.video} not found; pass --video PATH (a video with a face)")
    device = torch.device(args.device)
    info = common.machine_info(device)
    print(f"machine: {info}")
    print(f"video: {args.video.name}")
    if args.face_table:
        rows = face_table(args.video, args.seconds)
        print(common.table(rows, list(rows[0])))
        if args.json:
            args.json.write_text(json.dumps({"machine": info, "video": str(args.video), "faces": rows}, indent=2))
        return

    stages: dict[int, tuple[list, float, float]] = {}
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        start = time.perf_counter()
        base = peclip.create_model(name).to(device).eval()
        build_s = time.perf_counter() - start
        size = base.preprocess.size
        if size not in stages:
            stages[size] = face_stage(args.video, size, args.seconds)
            frames, duration, face_s = stages[size]
            print(f"face stage at {size}x{size}: {len(frames)} frames, {duration:.2f} s of video in {face_s:.2f} s "
                  f"({duration / face_s:.2f} video-s/s)", flush=True)
        frames, duration, face_s = stages[size]
        for precision in args.precisions:
            start = time.perf_counter()
            model = for_precision(base, precision)
            startup = build_s + time.perf_counter() - start
            print(f"{name} {precision}: start-up {startup:.1f} s (build {build_s:.1f} s)", flush=True)
            for stride in args.strides:
                modes = [None] if model.config.temporal.enabled else [True, False]
                reference = None
                for cache in modes:
                    model_stage(model, frames[: 3 * 24], 3.0, cache, device)  # warm-up: allocator, text features
                    figures = model_stage(model, frames, duration, cache, device, stride)
                    total = face_s + figures["model_s"]
                    row = {"model": name, "precision": precision, "stride": stride, "startup_s": startup,
                           "mode": {None: "clip (TDA)", True: "frame cache", False: "per window"}[cache],
                           **figures, "face_s": face_s, "end_to_end_s": total,
                           "model video-s/s": duration / figures["model_s"], "end-to-end video-s/s": duration / total,
                           "load_average": os.getloadavg()[0]}
                    if cache is False:
                        reference = row
                    rows.append(row)
                    print(f"{name} {precision} stride {stride:g} s ({row['mode']}): {figures['frames_encoded']} frames "
                          f"encoded, model stage {figures['model_s']:.2f} s, face + model one after the other "
                          f"{row['end-to-end video-s/s']:.2f} video-s/s (load {row['load_average']:.1f})", flush=True)
                    if args.end_to_end:
                        for prefetch in (PredictOptions.prefetch_frames, 0):
                            start = time.perf_counter()
                            predict_video(model, args.video, PredictOptions(stride=stride, frame_cache=cache,
                                                                            prefetch_frames=prefetch))
                            key = "pipelined_s" if prefetch else "sequential_s"
                            row[key] = time.perf_counter() - start
                        row["pipelined video-s/s"] = duration / row["pipelined_s"]
                        row["pipeline gain"] = row["sequential_s"] / row["pipelined_s"]
                        print(f"  predict_video: {row['pipelined_s']:.1f} s with the face-stage thread, "
                              f"{row['sequential_s']:.1f} s without ({row['pipeline gain']:.2f}x); "
                              f"{row['pipelined video-s/s']:.2f}x real time", flush=True)
                if reference is not None:
                    cached = next(r for r in rows if r["model"] == name and r["mode"] == "frame cache"
                                  and r["precision"] == precision and r["stride"] == stride)
                    print(f"{name}: frame cache is {reference['model_s'] / cached['model_s']:.2f}x faster in the "
                          f"model stage than per-window encoding ({cached['frames_encoded']} vs "
                          f"{reference['frames_encoded']} frames)", flush=True)
            del model
        del base
    columns = COLUMNS + (["pipelined video-s/s", "pipeline gain"] if args.end_to_end else [])
    print(common.table(rows, columns))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "video": str(args.video), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
