"""Live scoring on a real video played in real time: windows skipped, latency, CPU use.

    python benchmarks/bench_live.py [--video PATH] [--runs tiny:fp32:1 peclip-vit-b16:int8:2 ...]
                                    [--seconds S] [--json out.json]

Each run plays the video (default ``../shared/data/WolfgangLanger_Pexels.mp4``, 19.7 s at 23.98 fps)
at its own frame rate through :class:`peclip.predict.live.LiveSession` (2 s windows, the face stage of
``predict``, random weights) and reports what the session itself counts: frames dropped by the
capture, windows scored and skipped (scoring slower than the hop), the latency from a window's last
frame to its JSON line (p50 / p95), the mean seconds to score one window, and the process's CPU time
over the wall time (100 % = one core busy). A run is ``MODEL:PRECISION:HOP``; ``tiny`` stands for
``test-peclip-vit-b16``. The default runs are the tiny model at a 1 s hop, the light model
``shuffvit-dfer`` (torch) at a 0.5 s hop, and peclip-vit-b16 in fp32 and int8 at 1 s and 2 s hops.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip.predict.int8 import quantize_int8  # noqa: E402
from peclip.predict.live import LiveOptions, LiveSession  # noqa: E402

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "WolfgangLanger_Pexels.mp4"
DEFAULT_RUNS = ["tiny:fp32:1", "shuffvit-dfer:fp32:0.5", "peclip-vit-b16:fp32:1", "peclip-vit-b16:fp32:2",
                "peclip-vit-b16:int8:1", "peclip-vit-b16:int8:2"]
COLUMNS = ["model", "precision", "hop", "windows", "scored", "skipped", "frames dropped", "score s (mean)",
           "latency p50 s", "latency p95 s", "fps", "CPU %"]
NAMES = {"tiny": "test-peclip-vit-b16"}


def _trim(video: Path, seconds: float, out: Path) -> Path:
    """The first ``seconds`` of ``video`` (stream copy), for quicker runs."""
    import av

    with av.open(str(video)) as inp, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * packet.time_base >= seconds:
                break
            packet.stream = stream
            dst.mux(packet)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, metavar="MODEL:PRECISION:HOP")
    parser.add_argument("--window", type=float, default=LiveOptions.window)
    parser.add_argument("--seconds", type=float, help="play only the first SECONDS of the video")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"{args.video} not found; pass --video PATH (a video with a face)")
    video = args.video
    if args.seconds:
        video = _trim(args.video, args.seconds, Path(tempfile.gettempdir()) / f"bench_live_{args.seconds:g}s.mp4")
    info = common.machine_info(torch.device("cpu"))
    print(f"machine: {info}")
    print(f"video: {video.name}, played in real time")
    models: dict[tuple[str, str], peclip.PEClip] = {}
    rows = []
    for run in args.runs:
        name, precision, hop = run.split(":")
        name = NAMES.get(name, name)
        if (name, precision) not in models:
            torch.manual_seed(0)
            model = peclip.create_model(name).eval()
            models[(name, precision)] = quantize_int8(model) if precision == "int8" else model
        model = models[(name, precision)]
        options = LiveOptions(window=args.window, hop=float(hop), realtime=True, summary_every=0)
        summary = LiveSession(model, video, options, jsonl=False).run()
        scored, skipped = summary["windows_scored"], summary["windows_skipped"]
        row = {"model": name, "precision": precision, "hop": float(hop),
               "windows": scored + skipped + summary["windows_no_face"], "scored": scored, "skipped": skipped,
               "frames dropped": summary["frames_dropped"], "score s (mean)": summary["score_seconds_mean"],
               "latency p50 s": summary["latency_p50"], "latency p95 s": summary["latency_p95"],
               "fps": summary["fps"], "CPU %": summary["cpu_percent"], "summary": summary}
        rows.append(row)
        print(f"{run}: scored {scored}, skipped {skipped}, dropped {summary['frames_dropped']}, latency p50 "
              f"{summary['latency_p50']:.2f} s p95 {summary['latency_p95']:.2f} s, CPU {summary['cpu_percent']:.0f} %",
              flush=True)
    print(common.table(rows, COLUMNS))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "video": str(video), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
