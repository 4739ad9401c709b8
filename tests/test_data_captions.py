"""Captions in the data layer: a CSV column or a sidecar JSON, the dataset's (clip, label, caption)
samples, clear errors for missing captions, and the word stripper (docs/text-supervision.md)."""

import dataclasses
import json

import pytest

from peclip.cli import main
from peclip.data.captions import EMOTION_WORDS, attach_captions, strip_caption_file, strip_words
from peclip.data.config import DataConfig
from peclip.data.dataset import ClipDataset, load_dataset_items
from peclip.data.manifest import ClipItem, read_csv_manifest, write_csv_manifest
from peclip.data.synthetic import MotionSpec, write_motion_dataset

SPEC = MotionSpec(2, 4, 32, colours="fixed")


def test_csv_caption_column_round_trips_with_commas(tmp_path):
    items = [ClipItem(tmp_path / "a", 0, caption="brows raised, mouth open"), ClipItem(tmp_path / "b", -1)]
    path = write_csv_manifest(items, tmp_path / "m.csv")
    assert path.read_text().splitlines()[0] == "path,label,caption"
    back = read_csv_manifest(path)
    assert [(i.label, i.caption) for i in back] == [(0, "brows raised, mouth open"), (-1, None)]


def test_sidecar_json_attaches_captions_by_path_relative_to_the_root(tmp_path):
    write_motion_dataset(tmp_path, 4, 2, SPEC, seed=0)
    captions = {f"frames/train/{i:05d}": f"a square moving {'right' if i % 2 == 0 else 'left'}" for i in range(4)}
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    cfg = DataConfig(manifest=str(tmp_path / "train.txt"), captions=str(tmp_path / "captions.json"), augment="none",
                     num_workers=0, num_frames=4, image_size=32)
    items = load_dataset_items(cfg, "train", progress=False)
    assert [i.caption for i in items] == list(captions.values())
    clip, label, caption = ClipDataset(items, cfg, train=True, captions=True)[1]
    assert clip.shape == (4, 3, 32, 32) and (label, caption) == (1, "a square moving left")
    assert len(ClipDataset(items, cfg, train=False)[0]) == 2  # without captions: (clip, label) as before


def test_missing_or_conflicting_captions_are_errors_naming_the_clip(tmp_path):
    write_motion_dataset(tmp_path, 2, 1, SPEC, seed=0)
    cfg = DataConfig(manifest=str(tmp_path / "train.txt"), augment="none", num_workers=0, num_frames=4, image_size=32)
    items = load_dataset_items(cfg, "train", progress=False)
    with pytest.raises(ValueError, match=r"2 of 2 .*train.txt:1.*caption"):
        ClipDataset(items, cfg, train=True, captions=True)
    with_caption = [dataclasses.replace(items[0], caption="one")]
    with pytest.raises(ValueError, match="caption in the manifest and another"):
        attach_captions(with_caption, {"frames/train/00000": "two"}, tmp_path)


def test_strip_words_removes_whole_emotion_words_in_any_case():
    assert strip_words("A HAPPY person smiles, raising cheeks.") == "A person smiles, raising cheeks."
    assert strip_words("a fearful, surprised face opens the mouth") == "a face opens the mouth"
    assert strip_words("unhappiness stays") == "unhappiness stays"  # whole words only
    assert strip_words("sliding left now", ["left", "right"]) == "sliding now"
    assert "anger" in EMOTION_WORDS and "sad" in EMOTION_WORDS
    with pytest.raises(ValueError, match="non-empty"):
        strip_words("x", [""])


def test_strip_captions_command_writes_a_stripped_copy_of_csv_or_json(tmp_path, capsys):
    src = tmp_path / "m.csv"
    src.write_text('path,label,caption\na,0,"a sad face, brows down"\nb,1,eyes wide open\n')
    words = tmp_path / "words.txt"
    words.write_text("# my list\nsad\nwide\n")
    assert main(["strip-captions", str(src), "--out", str(tmp_path / "out.csv"), "--words", str(words)]) == 0
    assert "2 of 2 captions changed" in capsys.readouterr().out
    assert [i.caption for i in read_csv_manifest(tmp_path / "out.csv", root=tmp_path)] == \
        ["a face, brows down", "eyes open"]
    assert "sad" in src.read_text()  # the source is never changed
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"a": "An angry man frowns", "b": "a calm face"}))
    assert strip_caption_file(js, tmp_path / "c2.json") == (2, 1)
    assert json.loads((tmp_path / "c2.json").read_text()) == {"a": "An man frowns", "b": "a calm face"}
    with pytest.raises(ValueError, match="new file"):
        strip_caption_file(js, js)
