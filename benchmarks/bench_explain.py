"""Cost of ``explain`` per window against a plain forward of the same window.

    python benchmarks/bench_explain.py [--model peclip-vit-b16] [--video PATH] [--repeats 1] [--json out.json]

One window (the first face window of the video: 2 s, T frames from the model, face crops at its input
size) is cut with ``predict``'s face pipeline; then the model (random weights, which cost the same as
trained ones) runs on it three ways, interleaved: ``model(video)`` under ``inference_mode`` (what
``predict`` does), and :func:`peclip.evaluation.explain.explain_clip` with each class-map method
(forward with the attention recorded and the last block in full, one backward for the class map,
rollout). The face stage is not included (it is the same as ``predict``'s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip.evaluation.explain import explain_clip  # noqa: E402
from peclip.predict.runner import sample_clip  # noqa: E402
from peclip.predict.scorer import frames_to_tensor  # noqa: E402
from peclip.predict.source import FaceFrameSource  # noqa: E402
from peclip.predict.windows import SlidingWindows  # noqa: E402

DEFAULT_VIDEO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "WolfgangLanger_Pexels.mp4"


def first_window(path: Path, size: int, num_frames: int) -> torch.Tensor:
    source = FaceFrameSource(path, size)
    sliding = SlidingWindows(2.0, 2.0)
    for frame in source:
        for window in sliding.push(frame):
            if window.has_face():
                crops = [f.crop for f in sample_clip(window, num_frames, "tsn")]
                return frames_to_tensor(crops, torch.device("cpu"))  # (T, 3, S, S)
    raise SystemExit(f"no face window in the first windows of {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="peclip-vit-b16")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device("cpu")
    print(common.machine_info(device))
    start = time.perf_counter()
    torch.manual_seed(0)
    model = peclip.create_model(args.model).eval()
    build = time.perf_counter() - start
    video = first_window(args.video, model.preprocess.size, model.preprocess.num_frames)
    print(f"{args.model}: built in {build:.1f} s; window of {video.shape[0]} frames at {video.shape[-1]} px")

    def forward():
        with torch.inference_mode():
            model(video.unsqueeze(0))

    runs = {"forward (predict)": forward,
            "explain grad-rollout": lambda: explain_clip(model, video, method="grad-rollout"),
            "explain gradcam": lambda: explain_clip(model, video, method="gradcam")}
    forward()  # warm-up: class texts cached, kernels chosen
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = float(np.median(times["forward (predict)"]))
    figures = {}
    for name, values in times.items():
        median = float(np.median(values))
        figures[name] = median
        print(f"  {name:<22} {median:7.2f} s per window  ({median / base:.2f}x the forward)")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "frames": int(video.shape[0]), "seconds": figures,
                                         "threads": torch.get_num_threads()}, indent=2))


if __name__ == "__main__":
    main()
