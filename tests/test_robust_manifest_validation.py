"""Manifests lose no row without a word: one validation pass for scan, train and eval (issue 11, items 3-4).

The clips are frame folders the tests write (the manifest checks do not look at pixels).
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from peclip.cli import main
from peclip.data.config import DataConfig
from peclip.data.dataset import load_dataset_items, read_split, scan_split
from peclip.data.scan import DataError


def _clips(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(4):
            Image.fromarray(np.full((16, 16, 3), 50 * k, np.uint8)).save(root / name / f"{k:05d}.jpg")
    return root


def _scan(capsys, *args) -> tuple[int, str]:
    code = main(["scan", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_split_with_a_typo_is_a_problem_not_a_dropped_row(tmp_path, capsys):
    _clips(tmp_path, "a", "b", "c")
    (tmp_path / "m.csv").write_text("path,label,split\na,happiness,train\nb,sadness,tset\nc,anger,test\n")
    code, out = _scan(capsys, tmp_path / "m.csv")
    assert code == 1
    assert "m.csv:3: unknown split: split 'tset'" in out and "not one of train, val, test" in out
    cfg = DataConfig(manifest=str(tmp_path / "m.csv"), num_workers=0)
    with pytest.raises(DataError, match="unknown split"):  # train and eval read through the same pass
        load_dataset_items(cfg, "train", progress=False)
    kept = load_dataset_items(DataConfig(manifest=str(tmp_path / "m.csv"), on_bad="skip"), "train", progress=False)
    assert [i.path.name for i in kept] == ["a"]


def test_conflicting_duplicates_are_refused_and_exact_repeats_are_used_once(tmp_path, capsys):
    _clips(tmp_path, "a", "b")
    (tmp_path / "m.csv").write_text("path,label\na,happiness\na,sadness\nb,anger\nb,anger\n")
    code, out = _scan(capsys, tmp_path / "m.csv", "--split", "train")
    assert code == 1
    assert "m.csv:3: conflicting duplicate" in out and "m.csv:2 gives it label 0" in out
    assert "m.csv:5: duplicate" in out and "used once" in out
    report = scan_split(DataConfig(manifest=str(tmp_path / "m.csv")), "train", progress=False)
    assert [i.path.name for i in report.items] == ["b"]


def test_a_clip_in_both_train_and_test_is_a_problem(tmp_path, capsys):
    _clips(tmp_path, "a", "b")
    (tmp_path / "m.csv").write_text("path,label,split\na,happiness,train\na,happiness,test\nb,anger,test\n")
    code, out = _scan(capsys, tmp_path / "m.csv")
    assert code == 1 and "train/test overlap" in out


def test_an_empty_or_header_only_manifest_is_a_problem(tmp_path, capsys):
    for text in ("", "path,label\n"):
        (tmp_path / "m.csv").write_text(text)
        code, out = _scan(capsys, tmp_path / "m.csv", "--split", "train")
        assert code == 1 and "holds no clip rows" in out


def test_a_fold_that_is_not_a_number_is_named(tmp_path, capsys):
    _clips(tmp_path, "a", "b", "c")
    (tmp_path / "m.csv").write_text("path,label,fold\na,happiness,1\nb,sadness,x\nc,anger,2\n")
    code, out = _scan(capsys, tmp_path / "m.csv")
    assert code == 2 and "set data.fold (--fold) to one of [1, 2]" in out and "fold 'x' is not an integer" in out
    code, out = _scan(capsys, tmp_path / "m.csv", "--fold", "1")
    assert code == 1 and "m.csv:3: malformed line: fold 'x' is not an integer" in out
    code, out = _scan(capsys, tmp_path / "m.csv", "--fold", "3")
    assert code == 2 and "data.fold=3 is not a fold of" in out


def test_a_byte_order_mark_is_read_away(tmp_path, capsys):
    _clips(tmp_path, "clipA", "clipB")
    for text in ("path,label\nclipA,happiness\nclipB,sadness\n", "clipA,happiness\nclipB,sadness\n"):
        (tmp_path / "m.csv").write_bytes(text.encode("utf-8-sig"))
        code, out = _scan(capsys, tmp_path / "m.csv", "--split", "train")
        assert code == 0 and "2 clips, no problems" in out
    (tmp_path / "a.txt").write_bytes("clipA 4 0\nclipB 4 1\n".encode("utf-8-sig"))
    items = read_split(DataConfig(manifest=str(tmp_path / "a.txt")), "train")
    assert [i.path.name for i in items] == ["clipA", "clipB"]


def test_absolute_paths_work_with_or_without_root_and_strip_prefix(tmp_path, capsys):
    data = _clips(tmp_path / "data", "clipA", "clipB")
    (tmp_path / "abs.csv").write_text(f"path,label\n{data}/clipA,happiness\n{data}/clipB,sadness\n")
    for extra in ([], ["--root", "/"], ["--root", data], ["--root", data, "--strip-prefix", data]):
        code, out = _scan(capsys, tmp_path / "abs.csv", "--split", "train", *extra)
        assert code == 0 and "2 clips, no problems" in out, extra
    moved = tmp_path / "moved"
    data.rename(moved)  # the CSV's prefix no longer exists: --strip-prefix maps it onto --root
    code, out = _scan(capsys, tmp_path / "abs.csv", "--split", "train", "--root", moved, "--strip-prefix", data)
    assert code == 0 and "2 clips, no problems" in out


def test_when_most_clips_are_missing_the_scan_says_which_root_finds_them(tmp_path, capsys):
    # the authors' own annotation list, in an annotation folder beside the clips
    clips = _clips(tmp_path / "DFEW" / "data" / "clip_224x224", "02522", "02523")
    annotation = tmp_path / "DFEW" / "annotation"
    annotation.mkdir()
    (annotation / "DFEW_set_1_train.txt").write_text("/data/users/x/DFEW/clip_224x224/02522 4 1\n"
                                                     "/data/users/x/DFEW/clip_224x224/02523 4 2\n")
    code, out = _scan(capsys, annotation, "--dataset", "dfew", "--fold", "1", "--split", "train")
    assert code == 1 and "missing" in out
    assert f"no --root was given). With --root {clips}, 2 of the 2 paths checked exist" in out
    code, out = _scan(capsys, annotation, "--dataset", "dfew", "--fold", "1", "--split", "train", "--root", clips)
    assert code == 0
