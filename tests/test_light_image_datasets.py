"""KDEF and KMU-FED: k-fold manifests from their folder layouts, and their recipes train a light model."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from peclip.cli import main
from peclip.data.image_datasets import image_dataset_manifest
from peclip.train.config import load_recipe

KDEF_CODES = {"AF": "fear", "AN": "anger", "DI": "disgust", "HA": "happiness", "NE": "neutral", "SA": "sadness",
              "SU": "surprise"}


def _image(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(path)


def _kdef(root, subjects=("AF01", "AM02", "BF03")):
    n = 0
    for subject in subjects:
        for code in KDEF_CODES:
            for angle in ("S", "HL"):
                _image(root / subject / f"{subject}{code}{angle}.JPG", n)
                n += 1
    return n


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_kdef_manifest_reads_codes_keeps_relative_paths_and_stratifies_folds(tmp_path):
    total = _kdef(tmp_path / "KDEF")
    out = image_dataset_manifest("kdef", tmp_path / "KDEF", tmp_path / "kdef.csv", folds=3, seed=0)
    rows = _rows(out)
    assert len(rows) == total == 42
    assert {r["label"] for r in rows} == set(KDEF_CODES.values())
    assert all(not r["path"].startswith("/") and r["num_frames"] == "1" for r in rows)
    first = next(r for r in rows if r["path"].endswith("AF01ANS.JPG"))
    assert first["label"] == "anger"
    for label in KDEF_CODES.values():  # 6 images per class over 3 folds: 2 each
        folds = sorted(r["fold"] for r in rows if r["label"] == label)
        assert folds == ["1", "1", "2", "2", "3", "3"]
    straight = _rows(image_dataset_manifest("kdef", tmp_path / "KDEF", tmp_path / "s.csv", folds=3, angles=("S",)))
    assert len(straight) == 21


def test_kmu_fed_reads_class_folders_and_names_files_it_cannot_label(tmp_path):
    root = tmp_path / "KMU"
    for i, name in enumerate(["anger", "disgust", "fear", "happiness", "sadness", "surprise"] * 2):
        _image(root / name / f"img{i}.png", i)
    _image(root / "misc" / "S01_HA_003.jpg", 99)  # the expression code in the name
    rows = _rows(image_dataset_manifest("kmu-fed", root, tmp_path / "k.csv", folds=2))
    assert len(rows) == 13 and "neutral" not in {r["label"] for r in rows}
    assert next(r for r in rows if r["path"].endswith("S01_HA_003.jpg"))["label"] == "happiness"
    _image(root / "misc" / "unknown.png", 100)
    with pytest.raises(ValueError, match="unknown.png"):
        image_dataset_manifest("kmu-fed", root, tmp_path / "k2.csv")


def test_kdef_recipe_trains_a_tiny_light_model_on_one_fold(tmp_path, capsys):
    _kdef(tmp_path / "KDEF")
    assert main(["image-folds", "kdef", str(tmp_path / "KDEF"), "-o", str(tmp_path / "kdef.csv"), "--folds", "3"]) == 0
    recipe = load_recipe("kdef")
    assert recipe.model.name == "shuffvit-dfer" and recipe.data.augment == "shuffvit" and recipe.train.lr == 1e-4
    assert load_recipe("kmu-fed").model.resolve().num_classes == 6
    assert load_recipe("dfew-light").model.resolve().temporal.kind == "gru"
    assert main(["train", "--recipe", "kdef", "--root", str(tmp_path / "KDEF"), "--manifest",
                 str(tmp_path / "kdef.csv"), "--output-dir", str(tmp_path / "runs"), "--name", "r",
                 "--set", "model.name=test-shuffvit-dfer", "--set", "train.epochs=1", "--set", "train.batch_size=4",
                 "--set", "data.num_workers=0", "--set", "train.progress=false", "--set", "run.tensorboard=false",
                 "--set", "data.fold=2"]) == 0
    capsys.readouterr()
    results = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())
    assert results["last"]["num_samples"] == 14  # fold 2's third of 42 images
