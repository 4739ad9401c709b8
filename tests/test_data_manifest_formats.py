"""Annotation files (official format), CSV manifests, path remapping, AFEW labels, split/fold selection."""

from pathlib import Path

import pytest

from peclip.data.config import DataConfig
from peclip.data.dataset import MissingSplitError, read_split
from peclip.data.manifest import (
    UNLABELLED,
    ClipItem,
    Problem,
    read_annotation,
    read_csv_manifest,
    remap_path,
    write_csv_manifest,
)
from peclip.data.specs import DATASETS, get_dataset_spec
from peclip.labels import get_label_set


def test_annotation_with_crlf_spaces_and_prefix(tmp_path):
    text = ("/data/x/DFEW/DFEW_Frame_Face/00001 40 0\r\n"
            "\r\n"
            "D:/KmuProj2/DFEWdataset/Clip/clip_224x224/00002 12 6\r\n"
            "/data/x/DFEW/DFEW_Frame_Face/my clip 7 3\r\n")
    ann = tmp_path / "DFEW_set_1_train.txt"
    ann.write_bytes(text.encode())
    items = read_annotation(ann, root=tmp_path / "frames", anchors=DATASETS["dfew"].anchors)
    assert [i.path for i in items] == [tmp_path / "frames" / "00001", tmp_path / "frames" / "00002",
                                       tmp_path / "frames" / "my clip"]
    assert [(i.num_frames, i.label) for i in items] == [(40, 0), (12, 6), (7, 3)]
    assert items[1].source == f"{ann}:3"


def test_strip_prefix_replaces_the_authors_root(tmp_path):
    assert remap_path("/data/EECS/MAFW/data/faces/00012", tmp_path,
                      strip_prefix="/data/EECS/MAFW/") == tmp_path / "data/faces/00012"
    assert remap_path("C:\\sets\\AFEW\\AFEW_Face_Retina\\val\\Sad\\0001", tmp_path,
                      anchors=["AFEW_Face_Retina"]) == tmp_path / "val/Sad/0001"
    with pytest.raises(ValueError, match="strip_prefix"):
        remap_path("/elsewhere/00001", tmp_path, strip_prefix="/data/EECS/")
    with pytest.raises(ValueError, match="absolute path .* holds none of the dataset's anchors"):
        remap_path("/abs/without/anchor", tmp_path, anchors=["clip_224x224"])


def test_malformed_lines_are_all_named_with_their_line(tmp_path):
    ann = tmp_path / "a.txt"
    ann.write_text("clips/1 10 0\nclips/2 10\nclips/3 ten 1\nclips/4 5 -\n")
    with pytest.raises(ValueError) as err:
        read_annotation(ann)
    message = str(err.value)
    assert "3 bad line(s)" in message and f"{ann}:2" in message and f"{ann}:3" in message and f"{ann}:4" in message
    problems: list[Problem] = []
    items = read_annotation(ann, problems=problems)
    assert [i.path.name for i in items] == ["1"] and len(problems) == 3
    assert {p.kind for p in problems} == {"malformed line"}


def test_afew_labels_are_remapped_to_dfew_order(tmp_path):
    lines = [f"AFEWdataset/AFEW_Face_Retina/train/{name}/00{i} 30 {i}"
             for i, name in enumerate(["Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"])]
    (tmp_path / "AFEW_train.txt").write_text("\n".join(lines) + "\n")
    cfg = DataConfig(dataset="afew", manifest=str(tmp_path), root=str(tmp_path / "faces"))
    items = read_split(cfg, "train")
    basic7 = get_label_set("basic7")
    folder_emotion = [i.path.parent.name for i in items]
    names = {"Angry": "anger", "Disgust": "disgust", "Fear": "fear", "Happy": "happiness", "Neutral": "neutral",
             "Sad": "sadness", "Surprise": "surprise"}
    assert [basic7.classes[i.label] for i in items] == [names[e] for e in folder_emotion]
    assert items[0].path == tmp_path / "faces" / "train" / "Angry" / "000"
    official = read_split(DataConfig(dataset="afew", manifest=str(tmp_path), remap_labels=False), "train")
    assert [i.label for i in official] == list(range(7))


def test_spec_annotation_files_per_fold(tmp_path):
    spec = get_dataset_spec("DFEW")
    assert spec.annotation_file("test", 3) == "DFEW_set_3_test.txt"
    assert get_dataset_spec("ferv39k").annotation_file("train", None) == "FERV39K_train.txt"
    assert get_dataset_spec("afew").annotation_file("test", None) == "AFEW_val.txt"
    assert get_dataset_spec("mafw").label_set == "mafw11"
    with pytest.raises(ValueError, match="fold"):
        spec.annotation_file("train", None)
    (tmp_path / "DFEW_set_2_test.txt").write_text("/x/clip_224x224/00009 20 4\n")
    items = read_split(DataConfig(dataset="dfew", manifest=str(tmp_path), root="R", fold=2), "test")
    assert items == [ClipItem(Path("R/00009"), 4, 20, "test", 2, f"{tmp_path / 'DFEW_set_2_test.txt'}:1")]


def test_csv_manifest_reads_names_indices_and_empty_labels(tmp_path):
    (tmp_path / "m.csv").write_text("# my clips\nvideos/a.mp4,happiness\nframes/b,3,train,2\nc.mov,\n"
                                    "d.mp4,Sadness\n")
    items = read_csv_manifest(tmp_path / "m.csv", label_set=get_label_set("basic7"))
    assert [(i.path, i.label, i.split, i.fold) for i in items] == [
        (tmp_path / "videos/a.mp4", 0, None, None), (tmp_path / "frames/b", 3, "train", 2),
        (tmp_path / "c.mov", UNLABELLED, None, None), (tmp_path / "d.mp4", 1, None, None)]
    assert items[1].source == f"{tmp_path / 'm.csv'}:3"


def test_csv_unknown_class_name_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\na.mp4,joy\nb.mp4,fear\n")
    problems: list[Problem] = []
    items = read_csv_manifest(tmp_path / "m.csv", label_set=get_label_set("basic7"), problems=problems)
    assert [i.label for i in items] == [6]
    assert problems[0].kind == "unknown label" and "joy" in problems[0].message and problems[0].source.endswith(":2")


def test_csv_round_trip_writes_relative_paths(tmp_path):
    items = [ClipItem(tmp_path / "faces" / "x", 2, 30, "train", None),
             ClipItem(tmp_path / "faces" / "sub" / "y.mp4", UNLABELLED, None, "test", None)]
    basic7 = get_label_set("basic7")
    path = write_csv_manifest(items, tmp_path / "out" / "manifest.csv", root=tmp_path, label_set=basic7)
    text = path.read_text()
    assert str(tmp_path) not in text
    assert text.splitlines() == ["path,label,split,num_frames", "faces/x,neutral,train,30", "faces/sub/y.mp4,,test,"]
    back = read_csv_manifest(path, root=tmp_path, label_set=get_label_set("basic7"))
    assert [(i.path, i.label, i.num_frames, i.split) for i in back] == [
        (i.path, i.label, i.num_frames, i.split) for i in items]
    # default root: the manifest's folder, so paths may go up a level
    default = write_csv_manifest(items[:1], tmp_path / "m2" / "manifest.csv")
    assert default.read_text().splitlines()[1].startswith("../faces/x,2")
    assert read_csv_manifest(default)[0].path.resolve() == (tmp_path / "faces" / "x").resolve()


def test_csv_split_and_fold_selection(tmp_path):
    rows = ["path,label,fold"] + [f"c{i},{i % 7},{i % 3 + 1}" for i in range(9)]
    (tmp_path / "kfold.csv").write_text("\n".join(rows) + "\n")
    cfg = DataConfig(manifest=str(tmp_path / "kfold.csv"), fold=2)
    test = read_split(cfg, "test")
    train = read_split(cfg, "train")
    assert {i.path.name for i in test} == {"c1", "c4", "c7"} and len(train) == 6
    with pytest.raises(ValueError, match="data.fold"):
        read_split(DataConfig(manifest=str(tmp_path / "kfold.csv")), "test")
    (tmp_path / "split.csv").write_text("path,label,split\na,0,train\nb,1,test\nc,2,train\n")
    cfg = DataConfig(manifest=str(tmp_path / "split.csv"))
    assert [i.path.name for i in read_split(cfg, "train")] == ["a", "c"]
    assert [i.path.name for i in read_split(cfg, "test")] == ["b"]
    (tmp_path / "plain.csv").write_text("a,0\nb,1\n")
    with pytest.raises(MissingSplitError, match="test_manifest"):
        read_split(DataConfig(manifest=str(tmp_path / "plain.csv")), "test")
    (tmp_path / "t.csv").write_text("z,4\n")
    both = DataConfig(manifest=str(tmp_path / "plain.csv"), test_manifest=str(tmp_path / "t.csv"))
    assert [i.path.name for i in read_split(both, "test")] == ["z"]
    assert len(read_split(both, "train")) == 2
