"""Still-image datasets by their published layouts: manifests for every layout, the label maps onto
peclip's label sets, and the scan that checks them like video manifests. The image folders are made here
(tiny PNGs); the real posed stills of ../shared/data go through a folder tree too."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from peclip.cli import main
from peclip.data.config import DataConfig
from peclip.data.dataset import ClipDataset, read_split, scan_split
from peclip.data.manifest import Problem
from peclip.data.stills import ferplus_majority, kdef_fold, read_still_set
from peclip.labels import BASIC7, BASIC8

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _png(path: Path, value: int = 128, size: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def _names(items, label_set=BASIC7):
    return sorted((Path(i.path).name, label_set.classes[i.label], i.split) for i in items)


def test_a_class_folder_tree_with_split_folders_maps_synonyms_onto_the_label_set(tmp_path):
    for split in ("train", "test"):
        for folder in ("angry", "Happy", "surprised", "neutral"):
            _png(tmp_path / split / folder / f"{folder}.png")
    _png(tmp_path / "notes" / "x.png")  # neither a split nor part of one: left out
    items = read_still_set("folders", tmp_path)
    assert _names(items) == sorted((f"{f}.png", c, s) for s in ("train", "test") for f, c in
                                   (("angry", "anger"), ("Happy", "happiness"), ("surprised", "surprise"),
                                    ("neutral", "neutral")))
    cfg = DataConfig(dataset="folders", root=str(tmp_path))
    assert len(read_split(cfg, "train")) == 4 and len(read_split(cfg, "test")) == 4


def test_an_unknown_class_folder_is_a_problem_that_names_it_and_the_valid_classes(tmp_path):
    _png(tmp_path / "happy" / "a.png")
    _png(tmp_path / "bored" / "b.png")
    _png(tmp_path / "contempt" / "c.png")
    problems: list[Problem] = []
    items = read_still_set("folders", tmp_path, problems=problems)
    assert [i.path.name for i in items] == ["a.png"]
    text = "\n".join(map(str, problems))
    assert "folder name 'bored' is no class name" in text and "happiness" in text
    assert "class 'contempt' is not in label set basic7" in text
    # with the label set that has contempt it is read
    assert {BASIC8.classes[i.label] for i in read_still_set("folders", tmp_path, label_set="basic8",
                                                            problems=[])} == {"happiness", "contempt"}


def test_sfew_val_is_the_test_split_and_its_unlabelled_test_folder_is_left_out(tmp_path):
    for split in ("Train", "Val"):
        for emotion in ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"):
            _png(tmp_path / split / emotion / f"{split}_{emotion}.png")
    _png(tmp_path / "Test" / "x.png")
    cfg = DataConfig(dataset="sfew", root=str(tmp_path))
    test = scan_split(cfg, "test", progress=False)
    assert test.ok and len(test.items) == 7
    assert {BASIC7.classes[i.label] for i in test.items} == set(BASIC7.classes)
    assert len(read_split(cfg, "train")) == 7


def test_rafdb_reads_its_partition_file_with_aligned_images_and_its_own_label_order(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    lines = ["train_00001.jpg 1", "train_00002.jpg 4", "test_0001.jpg 7", "test_0002.jpg 6", ""]
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("\r\n".join(lines))
    for name in ("train_00001", "train_00002", "test_0001", "test_0002"):
        _png(tmp_path / "Image" / "aligned" / f"{name}_aligned.jpg")
    cfg = DataConfig(dataset="rafdb", root=str(tmp_path))
    assert _names(read_split(cfg, "train")) == [("train_00001_aligned.jpg", "surprise", "train"),
                                                ("train_00002_aligned.jpg", "happiness", "train")]
    report = scan_split(cfg, "test", progress=False)
    assert report.ok
    assert _names(report.items) == [("test_0001_aligned.jpg", "neutral", "test"),
                                    ("test_0002_aligned.jpg", "anger", "test")]


def test_rafdb_bad_lines_and_missing_images_are_reported_with_file_and_line(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_1.jpg 9\nbroken line here\ntrain_2.jpg 2\n")
    (tmp_path / "Image" / "original").mkdir(parents=True)  # no aligned folder: the original images are read
    report = scan_split(DataConfig(dataset="rafdb", root=str(tmp_path)), "train", progress=False)
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["malformed line", "missing", "unknown label"]
    assert any(":1: unknown label" in str(p) for p in report.problems)
    assert any("train_2.jpg" in str(p) and p.kind == "missing" for p in report.problems)


def _affectnet(folder: Path, rows: list[tuple[str, int]], name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                         "facial_landmarks", "expression", "valence", "arousal"])
        for path, expression in rows:
            writer.writerow([path, 0, 0, 12, 12, "", expression, 0.1, 0.2])


@pytest.mark.parametrize("name,expected", [
    ("affectnet7", ["neutral", "happiness", "anger"]),  # contempt (7) and 8-10 left out
    ("affectnet8", ["neutral", "happiness", "anger", "contempt"]),
])
def test_affectnet_csv_labels_map_onto_basic7_or_basic8(tmp_path, name, expected):
    rows = [("1/a.jpg", 0), ("1/b.jpg", 1), ("2/c.jpg", 6), ("2/d.jpg", 7), ("3/e.jpg", 8), ("3/f.jpg", 10)]
    _affectnet(tmp_path / "csv", rows, "training.csv")
    _affectnet(tmp_path / "csv", [("4/g.jpg", 3)], "validation.csv")
    for path, _ in [*rows, ("4/g.jpg", 3)]:
        _png(tmp_path / "images" / path)
    cfg = DataConfig(dataset=name, root=str(tmp_path / "images"), manifest=str(tmp_path / "csv"))
    labels = BASIC8 if name == "affectnet8" else BASIC7
    assert cfg.label_set == labels.name
    train = scan_split(cfg, "train", progress=False)
    assert train.ok
    assert [labels.classes[i.label] for i in train.items] == expected
    assert [labels.classes[i.label] for i in read_split(cfg, "test")] == ["surprise"]


def test_fer2013_pixel_csv_unpacks_to_images_and_a_manifest_through_the_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [(0, "Training"), (3, "Training"), (6, "PublicTest"), (5, "PrivateTest")]
    with open(tmp_path / "fer2013.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["emotion", "pixels", "Usage"])
        for emotion, usage in rows:
            writer.writerow([emotion, " ".join(map(str, rng.integers(0, 256, 48 * 48))), usage])
    out = tmp_path / "fer"
    assert main(["stills", "fer2013", str(tmp_path / "fer2013.csv"), "--unpack", "-o", str(out)]) == 0
    capsys.readouterr()
    cfg = DataConfig(dataset="fer2013", manifest=str(out / "manifest.csv"))
    train = scan_split(cfg, "train", progress=False)
    assert train.ok
    assert [BASIC7.classes[i.label] for i in train.items] == ["anger", "happiness"]
    assert [BASIC7.classes[i.label] for i in read_split(cfg, "test")] == ["surprise"]  # PrivateTest
    assert Image.open(train.items[0].path).size == (48, 48)


def test_ferplus_takes_the_majority_vote_and_leaves_out_ties_unknown_and_non_faces(tmp_path):
    assert ferplus_majority([0, 7, 1, 0, 0, 0, 0, 2, 0, 0]) == "happiness"
    assert ferplus_majority([4, 4, 0, 0, 0, 0, 0, 2, 0, 0]) is None  # tie
    assert ferplus_majority([0, 0, 0, 0, 0, 0, 0, 0, 9, 1]) is None  # unknown
    assert ferplus_majority([0, 0, 0, 0, 0, 0, 0, 6, 2, 2]) == "contempt"
    for folder, rows in (("FER2013Train", [("fer0.png", [0, 7, 1, 0, 0, 0, 0, 2, 0, 0]),
                                           ("fer1.png", [0, 0, 0, 0, 0, 0, 0, 6, 2, 2]),
                                           ("fer2.png", [4, 4, 0, 0, 0, 0, 0, 2, 0, 0])]),
                         ("FER2013Test", [("fer3.png", [10, 0, 0, 0, 0, 0, 0, 0, 0, 0])])):
        (tmp_path / folder).mkdir()
        with open(tmp_path / folder / "label.csv", "w", newline="") as fh:
            for name, votes in rows:
                csv.writer(fh).writerow([name, "(0, 0, 48, 48)", *votes])
                _png(tmp_path / folder / name)
    cfg = DataConfig(dataset="ferplus", root=str(tmp_path))
    assert cfg.label_set == "basic8"
    assert _names(read_split(cfg, "train"), BASIC8) == [("fer0.png", "happiness", "train"),
                                                        ("fer1.png", "contempt", "train")]
    assert scan_split(cfg, "test", progress=False).ok


def test_kdef_names_give_labels_and_subject_independent_folds(tmp_path):
    for subject in ("F01", "M01", "F02", "M11"):
        for code in ("AF", "AN", "DI", "HA", "NE", "SA", "SU"):
            for angle in ("S", "HL"):
                _png(tmp_path / f"A{subject}" / f"A{subject}{code}{angle}.JPG")
    items = read_still_set("kdef", tmp_path)
    assert len(items) == 4 * 7  # frontal only
    assert {BASIC7.classes[i.label] for i in items} == set(BASIC7.classes)
    assert kdef_fold("F", 1) == kdef_fold("M", 11) == 1 and kdef_fold("F", 2) == 2
    cfg = DataConfig(dataset="kdef", root=str(tmp_path), fold=1)
    test, train = read_split(cfg, "test"), read_split(cfg, "train")
    assert {i.path.parent.name for i in test} == {"AF01", "AM01", "AM11"}  # subjects 1 and 11: fold 1
    assert {i.path.parent.name for i in train} == {"AF02"}
    with pytest.raises(ValueError, match="set data.fold"):
        read_split(DataConfig(dataset="kdef", root=str(tmp_path)), "train")


def test_peclip_stills_writes_a_checked_manifest_that_trains_as_a_custom_csv(tmp_path, capsys):
    for split in ("train", "test"):
        for folder in ("sad", "fear"):
            _png(tmp_path / "tree" / split / folder / "x.png")
    out = tmp_path / "m" / "manifest.csv"
    assert main(["stills", "folders", str(tmp_path / "tree"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "scan: 4 clips, no problems" in printed and "written to" in printed
    rows = out.read_text().splitlines()
    assert rows[0] == "path,label,split" and "../tree/test/fear/x.png,fear,test" in rows
    cfg = DataConfig(dataset="custom", manifest=str(out))
    assert [BASIC7.classes[i.label] for i in read_split(cfg, "train")] == ["fear", "sadness"]


def test_peclip_scan_checks_a_still_set_by_its_layout(tmp_path, capsys):
    _png(tmp_path / "train" / "happy" / "a.png")
    (tmp_path / "train" / "happy" / "b.png").write_bytes(b"not a png")
    _png(tmp_path / "test" / "happy" / "c.png")
    assert main(["scan", str(tmp_path), "--dataset", "folders", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "[train] scan: 1 problem(s) in 2 clips (1 unreadable)" in out and "b.png" in out
    assert "[test] scan: 1 clips, no problems" in out


def test_real_posed_stills_in_a_class_tree_load_as_single_images(tmp_path):
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    for name, folder in (("0-f1-su-ph.jpg", "surprise"), ("0-f15-hao-ph.jpg", "happy"),
                         ("15-f13-anc-ph.jpg", "angry"), ("45-m7-di-ph.jpg", "disgusted")):
        (tmp_path / folder).mkdir()
        shutil.copy(DATA / name, tmp_path / folder / name)
    cfg = DataConfig(dataset="folders", root=str(tmp_path), image_size=32, num_frames=4, augment="mafw")
    report = scan_split(cfg, "train", progress=False, deep=True)
    assert report.ok and len(report.items) == 4
    dataset = ClipDataset(report.items, cfg, train=True)
    image, label = dataset[0]
    assert dataset.stills and tuple(image.shape) == (3, 32, 32)  # one image, not T copies
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert {BASIC7.classes[i.label] for i in report.items} == {"surprise", "happiness", "anger", "disgust"}
