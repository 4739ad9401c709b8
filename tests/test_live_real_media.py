"""`peclip live` on real recordings (../shared/data): a file played in real time gives `predict`'s numbers,
one JSON line per hop and person, in about the video's duration; no face gives face: false; SIGTERM
stops cleanly with the summary."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from peclip.cli import main
from peclip.predict import zero_shot_model
from peclip.predict.live import LiveOptions, LiveSession

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SINGLE = DATA / "single_face.mp4"  # 640x360, 30 fps, 72 frames (2.4 s)
WOLF = DATA / "WolfgangLanger_Pexels.mp4"  # 23.98 fps, 472 frames (19.7 s)
NO_FACE = DATA / "no_face.mp4"

pytestmark = pytest.mark.skipif(not SINGLE.is_file(), reason="real media in ../shared/data is absent")


def _lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _summary(stderr):
    [line] = [line for line in stderr.splitlines() if line.startswith("summary {")]
    return json.loads(line.removeprefix("summary "))


def _live_and_predict(video, tmp_path, capsys, hop, *extra):
    torch.manual_seed(0)
    start = time.monotonic()
    assert main(["live", str(video), "--model", "test-peclip-vit-b16", "--realtime", "--hop", str(hop),
                 "--jsonl", str(tmp_path / "live.jsonl"), "--summary-every", "0", *extra]) == 0
    elapsed = time.monotonic() - start
    torch.manual_seed(0)
    assert main(["predict", str(video), "--model", "test-peclip-vit-b16", "--stride", str(hop), "--batch-size", "1",
                 "--no-plot", "-o", str(tmp_path)]) == 0
    timeline = json.loads((tmp_path / f"{video.stem}.json").read_text())["timeline"]
    return _lines(tmp_path / "live.jsonl"), timeline, elapsed, _summary(capsys.readouterr().err)


def _assert_same_numbers(lines, timeline, summary):
    assert len(lines) == len(timeline)  # one line per hop (one person)
    assert sum(line["dropped"] for line in lines) <= summary["frames_dropped"]
    if summary["frames_dropped"]:
        # The machine fell behind real time and the capture dropped frames (counted, as it must be live).
        # Windows up to the first drop saw exactly predict's frames; later ones saw fewer, and the face
        # tracker's smoothing saw a different sequence, so only those before the first drop can be equal.
        first = next(i for i, line in enumerate(lines) if line["dropped"])
        lines, timeline = lines[:first], timeline[:first]
    for line, row in zip(lines, timeline, strict=True):
        assert (line["start"], line["end"], line["face"]) == pytest.approx((row["start"], row["end"], row["face"]))
        assert line["top"] == row["top"] and line["track"] == row["track"]
        assert line["frames"] == row["frames"] and line["face_frames"] == row["face_frames"]
        live = [line["probabilities"][c] for c in line["probabilities"]]
        predicted = [row[f"p_{c}"] for c in line["probabilities"]]
        np.testing.assert_allclose(live, predicted, rtol=0, atol=1e-6)
        assert line["latency"] >= 0 and line["wall_time"] > 1.6e9


def test_a_file_played_in_real_time_gives_predicts_numbers_one_line_per_hop(tmp_path, capsys):
    lines, timeline, elapsed, summary = _live_and_predict(SINGLE, tmp_path, capsys, 1.0, "--overlay",
                                                          str(tmp_path / "o.mp4"))
    assert [line["window"] for line in lines] == [0, 1]  # [0, 2) and the last window [1, 2.4)
    _assert_same_numbers(lines, timeline, summary)
    assert elapsed >= 2.4 * 0.95  # played at its own rate, not as fast as it decodes
    assert summary["frames_in"] == summary["frames_processed"] + summary["frames_dropped"] == 72
    assert summary["windows_scored"] == 2 and summary["windows_skipped"] == 0
    assert 0 <= summary["latency_p50"] <= summary["latency_p95"]
    with av.open(str(tmp_path / "o.mp4")) as overlay:  # every frame, with boxes and labels drawn
        assert sum(1 for _ in overlay.decode(video=0)) == 72


@pytest.mark.slow
@pytest.mark.skipif(not WOLF.is_file(), reason="WolfgangLanger_Pexels.mp4 is absent")
def test_the_twenty_second_video_in_real_time_takes_its_duration_and_equals_predict(tmp_path, capsys):
    lines, timeline, elapsed, summary = _live_and_predict(WOLF, tmp_path, capsys, 1.0)
    assert 19.6 <= elapsed  # 472 frames at 23.98 fps
    assert [line["window"] for line in lines] == list(range(19))
    assert all(line["face"] and line["track"] == 0 for line in lines)
    _assert_same_numbers(lines, timeline, summary)


@pytest.mark.skipif(not NO_FACE.is_file(), reason="no_face.mp4 is absent")
def test_a_video_without_a_face_gives_lines_with_face_false():
    torch.manual_seed(0)
    model = zero_shot_model("test-clip-vit-b16")
    lines = []
    summary = LiveSession(model, NO_FACE, LiveOptions(hop=1.0), jsonl=False, on_record=lines.append).run()
    assert lines and all(not line["face"] and line["probabilities"] is None and line["top"] is None for line in lines)
    assert summary["windows_scored"] == 0 and summary["windows_no_face"] == len(lines)


@pytest.mark.skipif(not WOLF.is_file(), reason="WolfgangLanger_Pexels.mp4 is absent")
def test_sigterm_stops_cleanly_flushes_the_lines_and_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "live.jsonl"

    def terminate_after_two_lines():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.is_file() and len(out.read_text().splitlines()) >= 2:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=terminate_after_two_lines, daemon=True)
    killer.start()
    torch.manual_seed(0)
    start = time.monotonic()
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["live", str(WOLF), "--model", "test-peclip-vit-b16", "--realtime", "--jsonl", str(out)]) == 0
    elapsed = time.monotonic() - start
    killer.join(5)
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is put back
    assert elapsed < 15  # stopped well before the video's 19.7 s
    lines = _lines(out)  # every line complete JSON
    assert 2 <= len(lines) < 19
    summary = _summary(capsys.readouterr().err)
    assert summary["stopped"] is True and summary["windows_scored"] == len(lines)
