"""Scanning a dataset: every problem in one report; stop by default, skip and list on request."""

import numpy as np
import pytest
from PIL import Image

from peclip.data.config import DataConfig
from peclip.data.dataset import ClipDataset, load_dataset_items, scan_split
from peclip.data.scan import DataError


def _frames(folder, n, size=(20, 24)):
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        Image.fromarray(np.full((*size, 3), i, np.uint8)).save(folder / f"{i:05d}.jpg")


@pytest.fixture
def bad_dataset(tmp_path):
    _frames(tmp_path / "good", 20)
    _frames(tmp_path / "also_good", 18)
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (tmp_path / "m.csv").write_text("path,label\n"      # line 1
                                    "good,happiness\n"  # 2
                                    "missing.mp4,fear\n"  # 3 missing file
                                    "corrupt.mp4,anger\n"  # 4 random bytes named .mp4
                                    "empty,sadness\n"  # 5 empty folder
                                    "also_good,joy\n")  # 6 unknown label
    return tmp_path


def test_one_report_names_all_four_problems(bad_dataset):
    cfg = DataConfig(manifest=str(bad_dataset / "m.csv"))
    with pytest.raises(DataError) as err:
        load_dataset_items(cfg, "train", progress=False)
    text = str(err.value)
    manifest = bad_dataset / "m.csv"
    for line, kind, name in [(3, "missing", "missing.mp4"), (4, "unreadable", "corrupt.mp4"),
                             (5, "empty", "empty"), (6, "unknown label", "joy")]:
        assert f"{manifest}:{line}: {kind}" in text and name in text
    assert "4 problem(s)" in text and "on_bad=skip" in text
    report = scan_split(cfg, "train", progress=False)
    assert report.counts() == {"missing": 1, "unreadable": 1, "empty": 1, "unknown label": 1}
    assert [i.path.name for i in report.items] == ["good"]


def test_skip_drops_bad_items_and_writes_the_list(bad_dataset):
    cfg = DataConfig(manifest=str(bad_dataset / "m.csv"), on_bad="skip", num_frames=16, image_size=224,
                     skipped_list=str(bad_dataset / "run" / "skipped.tsv"))
    items = load_dataset_items(cfg, "train", progress=False)
    assert [i.path.name for i in items] == ["good"]
    written = (bad_dataset / "run" / "skipped-train.tsv").read_text().splitlines()
    assert written[0] == "source\tkind\tpath\tmessage" and len(written) == 5
    assert {line.split("\t")[1] for line in written[1:]} == {"missing", "unreadable", "empty", "unknown label"}
    dataset = ClipDataset(items, cfg, train=False)
    clip, label = dataset[0]
    assert clip.shape == (16, 3, 224, 224) and label == 0


def test_label_outside_the_set_and_malformed_annotation_lines(tmp_path):
    _frames(tmp_path / "clips" / "a", 5)
    _frames(tmp_path / "clips" / "b", 5)
    (tmp_path / "list.txt").write_text("clips/a 5 0\nclips/b 5 9\nclips/c\n")
    report = scan_split(DataConfig(manifest=str(tmp_path / "list.txt")), "train", progress=False)
    kinds = {(p.source.rsplit(":", 1)[1], p.kind) for p in report.problems}
    assert kinds == {("2", "unknown label"), ("3", "malformed line")}
    assert "label 9 is not a class of basic7" in report.format()


def test_fewer_frames_than_stated_is_a_warning_and_is_corrected(tmp_path):
    _frames(tmp_path / "clips" / "a", 10)
    (tmp_path / "list.txt").write_text("clips/a 60 2\n")
    cfg = DataConfig(manifest=str(tmp_path / "list.txt"), num_frames=16, image_size=224)
    report = scan_split(cfg, "train", progress=False)
    assert report.ok and report.warnings[0].kind == "frame count" and "60" in report.warnings[0].message
    items = load_dataset_items(cfg, "train", progress=False)
    assert items[0].num_frames == 10
    clip, _ = ClipDataset(items, cfg, train=True)[0]
    assert clip.shape == (16, 3, 224, 224)


def test_scan_command_reports_and_fails(bad_dataset, capsys):
    from peclip.cli import main

    code = main(["scan", str(bad_dataset / "m.csv"), "--split", "train", "--report", str(bad_dataset / "r.tsv")])
    out = capsys.readouterr().out
    assert code == 1 and "4 problem(s)" in out and "corrupt.mp4" in out
    assert len((bad_dataset / "r.tsv").read_text().splitlines()) == 5
