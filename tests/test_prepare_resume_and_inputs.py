"""``peclip prepare``: resumable runs, inputs (files, folders, manifests), reports, the CLI."""

import json
from pathlib import Path

import pytest

from peclip.cli import main
from peclip.data.prepare import collect_jobs, prepare_videos
from peclip.data.prepare_options import PrepareOptions
from peclip.labels import get_label_set

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _video(path, values=(0,) * 12):
    from test_data_video_decoding import write_video

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, "libx264", values=list(values))


def test_collect_jobs_from_folders_files_and_manifests(tmp_path):
    _video(tmp_path / "in" / "a.mp4")
    _video(tmp_path / "in" / "sub" / "b.mov")
    frames = tmp_path / "in" / "frames" / "c"
    frames.mkdir(parents=True)
    (frames / "1.jpg").write_bytes(b"")
    jobs, problems = collect_jobs([tmp_path / "in", tmp_path / "nope.mp4"], label="fear",
                                  label_set=get_label_set("basic7"))
    assert sorted(j.name for j in jobs) == ["a", "frames/c", "sub/b"]
    assert {j.label for j in jobs} == {6}
    assert [p.kind for p in problems] == ["missing"]
    (tmp_path / "m.csv").write_text("path,label,split\nin/a.mp4,sadness,train\nin/sub/b.mov,2,test\n")
    jobs, _ = collect_jobs([tmp_path / "m.csv"], label_set=get_label_set("basic7"))
    assert [(j.name, j.label, j.split) for j in jobs] == [("in/a", 1, "train"), ("in/sub/b", 2, "test")]
    with pytest.raises(ValueError, match="same output folder"):
        collect_jobs([tmp_path / "in" / "a.mp4", tmp_path / "m.csv", tmp_path / "in" / "sub" / "b.mov",
                      _video(tmp_path / "other" / "a.mp4")])
    with pytest.raises(ValueError, match="joy"):
        collect_jobs([tmp_path / "in"], label="joy", label_set=get_label_set("basic7"))


def test_synthetic_video_without_face_and_unreadable_video_are_skipped(tmp_path):
    _video(tmp_path / "black.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 2000)
    # two worker processes: results come back in input order
    summary = prepare_videos([tmp_path / "black.mp4", tmp_path / "broken.mp4"], tmp_path / "out", progress=False,
                             workers=2)
    assert [(r.name, r.status) for r in summary.results] == [("black", "no_face"), ("broken", "error")]
    assert summary.manifest is None and not summary.done
    assert "skipped" in summary.format() and "broken.mp4" in summary.format()


@pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent")
def test_second_run_skips_complete_videos_and_redoes_partial_ones(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["prepare", str(MEDIA / "single_face.mp4"), "--out", str(out), "--size", "112", "--no-progress",
            "--label", "neutral"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "done: 1" in first and "0 already complete" in first
    track = out / "_tracks" / "single_face.json"
    written = json.loads(track.read_text())["frames_written"]
    assert written >= 0.95 * 72
    assert (out / "manifest.csv").read_text().splitlines()[1] == f"single_face,neutral,{written}"

    assert main(args) == 0
    assert "1 already complete" in capsys.readouterr().out

    # An interrupted run: frames written, no track file (the completion marker) -> redone.
    track.unlink()
    (out / "single_face" / "99999.jpg").write_bytes(b"partial")
    assert main(args) == 0
    assert "0 already complete" in capsys.readouterr().out
    assert track.is_file() and not (out / "single_face" / "99999.jpg").exists()
    assert len(list((out / "single_face").glob("*.jpg"))) == written


@pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent")
def test_duplicate_report_is_recorded(tmp_path):
    pytest.importorskip("peclip.data.csim_sampling", reason="CSIM module not there yet")
    summary = prepare_videos([MEDIA / "single_face.mp4"], tmp_path, PrepareOptions(size=96, report_duplicates=True),
                             progress=False)
    result = summary.results[0]
    assert sorted(result.duplicates) == [0] and isinstance(result.duplicates[0], list)
    track = json.loads((tmp_path / "_tracks" / "single_face.json").read_text())
    assert track["tracks"][0]["duplicates"] == [list(d) for d in result.duplicates[0]]
