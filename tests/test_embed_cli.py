"""``peclip embed``: the normalised video embeddings of a manifest, its index, the 2-D map; one process or two."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import peclip
from peclip.cli import main
from peclip.data.dataset import ClipDataset, load_dataset_items
from peclip.data.synthetic import MotionSpec, write_motion_dataset
from peclip.evaluation.embeddings import project_2d
from peclip.evaluation.evaluate import data_config_for
from peclip.train.checkpoints import write_checkpoint

CLASSES = ["right", "left", "down", "up"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed")
    write_motion_dataset(root / "clips", num_train=1, num_test=7, spec=MotionSpec(num_classes=4, num_frames=4), seed=5)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = peclip.create_model("test-peclip-vit-b16", classes=CLASSES, text_kind="names", num_frames=4)
    return root, write_checkpoint(root / "ckpt", model, {"init_seed": 0})


def _embed(setup, out, *extra):
    root, ckpt = setup
    return ["embed", str(root / "clips" / "test.txt"), "--checkpoint", str(ckpt), "-o", str(out), "--device", "cpu",
            "--batch-size", "3", "--set", "data.num_workers=0", "--set", "data.num_frames=4", *extra]


def test_embed_writes_normalised_embeddings_an_index_and_a_map(setup, tmp_path, capsys):
    root, ckpt = setup
    out = tmp_path / "emb"
    assert main(_embed(setup, out)) == 0
    assert "7 clips embedded (32 dimensions)" in capsys.readouterr().out
    emb = np.load(out / "embeddings.npy")
    assert emb.shape == (7, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    rows = list(csv.DictReader(open(out / "index.csv")))
    assert [r["row"] for r in rows] == [str(i) for i in range(7)] and set(rows[0]) >= {"path", "label", "split",
                                                                                         "prediction"}
    # the same clips as the model itself reads them: embeddings and predictions from encode_video and forward
    model = peclip.load(ckpt).eval()
    cfg = data_config_for(model, None, dataset="custom", manifest=str(root / "clips" / "test.txt"),
                          test_manifest=str(root / "clips" / "test.txt"), num_workers=0, num_frames=4)
    items = load_dataset_items(cfg, "test", progress=False)
    dataset = ClipDataset(items, cfg, train=False, seed=0)
    videos = torch.stack([dataset[i][0] for i in range(7)])
    with torch.no_grad():
        np.testing.assert_allclose(emb, model.encode_video(videos).numpy(), atol=1e-5)
        predicted = model(videos).argmax(dim=1).tolist()
    assert [r["prediction"] for r in rows] == [CLASSES[p] for p in predicted]
    assert [r["label"] for r in rows] == [CLASSES[i.label] for i in items]
    assert [r["path"] for r in rows] == [str(i.path) for i in items]
    points = list(csv.DictReader(open(out / "map.csv")))
    assert [p["kind"] for p in points] == ["video"] * 7 + ["class_text"] * 4
    assert (out / "map.png").stat().st_size > 10_000
    np.testing.assert_allclose(np.load(out / "class_texts.npy"), model.encode_classes().detach().numpy(), atol=1e-5)


def test_projection_is_deterministic_and_places_the_class_texts():
    gen = np.random.default_rng(0)
    videos = gen.normal(size=(20, 8))
    texts = gen.normal(size=(3, 8))
    a_videos, a_texts, method = project_2d(videos, texts, "tsne", seed=1)
    b_videos, b_texts, _ = project_2d(videos, texts, "tsne", seed=1)
    assert method == "tsne" and a_videos.shape == (20, 2) and a_texts.shape == (3, 2)
    np.testing.assert_allclose(a_videos, b_videos)
    with pytest.raises(ValueError, match="projection"):
        project_2d(videos, texts, "pca")


@pytest.mark.slow
def test_two_processes_embed_the_same_as_one(setup, tmp_path, capsys):
    assert main(_embed(setup, tmp_path / "one")) == 0
    # the subprocesses import this peclip (the one under test), whatever is installed
    src = str(Path(peclip.__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "peclip.cli",
           *_embed(setup, tmp_path / "two")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("clips embedded") == 1  # rank 0 writes and reports
    two, one = (np.load(tmp_path / name / "embeddings.npy") for name in ("two", "one"))
    np.testing.assert_allclose(two, one, atol=1e-5)
    assert (tmp_path / "two" / "index.csv").read_text() == (tmp_path / "one" / "index.csv").read_text()
