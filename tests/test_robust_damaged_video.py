"""Truncated or damaged video is reported, never passed off as whole (issue 11, item 1).

The inputs are real recordings from ../shared/data, cut or damaged by the test itself: the first 30 %
of WolfgangLanger_Pexels.mp4 (``head -c 489687``), and a copy with 60 kB of noise in its middle.
"""

import json
import random
from pathlib import Path

import pytest
import torch

from peclip.cli import main
from peclip.data.prepare import prepare_videos
from peclip.data.prepare_options import PrepareOptions
from peclip.data.video import IncompleteVideoError, open_video
from peclip.predict import predict_video, zero_shot_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WOLF = DATA / "WolfgangLanger_Pexels.mp4"  # 472 frames, 19.7 s

pytestmark = pytest.mark.skipif(not WOLF.is_file(), reason="real media in ../shared/data is absent")


def _truncated(tmp_path: Path, source: Path = WOLF, fraction: float = 0.3) -> Path:
    data = source.read_bytes()
    out = tmp_path / f"cut_{source.name}"
    out.write_bytes(data[: int(len(data) * fraction)])  # what `head -c` leaves of an interrupted copy
    return out


def _damaged_in_the_middle(tmp_path: Path) -> Path:
    data = bytearray(WOLF.read_bytes())
    noise = random.Random(11).randbytes(60_000)
    middle = len(data) // 2
    data[middle:middle + len(noise)] = noise
    out = tmp_path / "damaged.mp4"
    out.write_bytes(bytes(data))
    return out


def test_a_truncated_video_reports_frames_decoded_against_the_container(tmp_path):
    with open_video(_truncated(tmp_path)) as video:
        count = sum(1 for _ in video)
    report = video.report()
    assert count == report.frames_decoded == 137
    assert report.frames_expected == 472 and not report.complete
    assert "decoded 137 of the 472 frames" in report.describe() and "5.7 of 19.7 s" in report.describe()


def test_decode_errors_in_the_middle_are_counted_and_decoding_goes_on(tmp_path):
    with open_video(_damaged_in_the_middle(tmp_path)) as video:
        count = sum(1 for _ in video)
    report = video.report()
    assert report.decode_errors > 0 and not report.complete
    assert 236 < count < 472  # frames after the damage still decode
    assert "failed to decode and were skipped" in report.describe()
    with open_video(WOLF) as whole:
        assert sum(1 for _ in whole) == 472
    assert whole.report().complete and whole.report().decode_errors == 0


def test_predict_marks_a_truncated_video_incomplete_and_strict_refuses_it(tmp_path):
    torch.manual_seed(0)
    model = zero_shot_model("test-clip-vit-b16")
    cut = _truncated(tmp_path)
    result = predict_video(model, cut, detect_faces=False)
    data = json.loads(result.to_json())
    assert data["complete"] is False
    assert (data["frames_decoded"], data["frames_expected"], data["decode_errors"]) == (137, 472, 0)
    assert "ends early" in data["decode_warning"]
    with pytest.raises(IncompleteVideoError, match="decoded 137 of the 472 frames"):
        predict_video(model, cut, detect_faces=False, strict=True)
    whole = json.loads(predict_video(model, DATA / "single_face.mp4", detect_faces=False).to_json())
    assert whole["complete"] is True and whole["frames_decoded"] == whole["frames_expected"] == 72


def test_predict_cli_warns_on_a_short_read_and_fails_with_strict(tmp_path, capsys):
    cut = _truncated(tmp_path)
    common = [str(cut), "--model", "test-clip-vit-b16", "--no-face-detection", "--no-plot"]
    assert main(["predict", *common, "-o", str(tmp_path / "loose")]) == 0
    assert "WARNING incomplete video: decoded 137 of the 472 frames" in capsys.readouterr().out
    assert main(["predict", *common, "--strict", "-o", str(tmp_path / "strict")]) == 1
    assert "incomplete video" in capsys.readouterr().err
    assert not list((tmp_path / "strict").glob("*.json"))  # no result that looks whole


class _NoFaces:
    """A detector that finds nothing (the strict run only needs decoding)."""

    def detect(self, frame):
        return []


def test_prepare_records_a_short_read_in_the_track_file_and_strict_skips_the_video(tmp_path):
    cut = _truncated(tmp_path)
    summary = prepare_videos([cut], tmp_path / "out", PrepareOptions(size=64), progress=False)
    track = json.loads((tmp_path / "out" / "_tracks" / f"{cut.stem}.json").read_text())
    assert track["complete"] is False and (track["frames_decoded"], track["frames_expected"]) == (137, 472)
    assert track["frames_total"] == 137 and track["status"] == "done"
    assert f"incomplete {cut}: decoded 137 of the 472 frames" in summary.format()
    strict = prepare_videos([cut], tmp_path / "strict", PrepareOptions(size=64, strict=True), detector=_NoFaces(),
                            progress=False)
    assert [r.status for r in strict.results] == ["error"] and strict.manifest is None
    assert "incomplete video (strict)" in strict.results[0].message
