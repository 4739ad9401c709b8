"""ClipDataset and its DataLoader: determinism by (seed, epoch, index), workers, named datasets, CSIM."""

import numpy as np
import pytest
import torch
from PIL import Image

from peclip.data.config import DataConfig
from peclip.data.dataset import ClipDataset, build_dataloader, load_dataset_items, set_loader_epoch
from peclip.data.manifest import ClipItem


def _frames(folder, n, size=(24, 32), offset=0):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(offset)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i + 1:05d}.png")
    return folder


@pytest.fixture
def items(tmp_path):
    return [ClipItem(_frames(tmp_path / f"c{k}", 40 + k, offset=k), k % 7) for k in range(6)]


def test_samples_are_deterministic_given_seed_epoch_and_index(items):
    cfg = DataConfig(image_size=32, num_frames=8)
    a, b = ClipDataset(items, cfg, train=True, seed=3), ClipDataset(items, cfg, train=True, seed=3)
    clip, label = a[2]
    assert clip.shape == (8, 3, 32, 32) and label == 2
    assert torch.equal(clip, b[2][0]) and torch.equal(clip, a[2][0])
    a.set_epoch(1)
    assert not torch.equal(a[2][0], clip)  # another epoch, another draw
    b.set_epoch(1)
    assert torch.equal(a[2][0], b[2][0])
    assert not torch.equal(ClipDataset(items, cfg, train=True, seed=4)[2][0], clip)


def test_test_samples_ignore_the_epoch_and_take_segment_centres(items):
    cfg = DataConfig(image_size=24, num_frames=4)
    ds = ClipDataset(items, cfg, train=False)
    first = ds[0][0]
    ds.set_epoch(5)
    assert torch.equal(ds[0][0], first)
    rng, _ = ds.generators(0)
    assert ds.frame_indices(0, rng) == [5, 15, 25, 35]  # N=40, tick 10: int(5 + 10 i)


def test_loader_with_workers_matches_the_main_process(items):
    cfg = DataConfig(image_size=32, num_frames=4)
    ds = ClipDataset(items, cfg, train=False)
    plain = [x for x, _ in build_dataloader(ds, 2, train=False, num_workers=0)]
    workers = [x for x, _ in build_dataloader(ds, 2, train=False, num_workers=2)]
    assert len(plain) == 3 and all(torch.equal(p, w) for p, w in zip(plain, workers, strict=True))


def test_train_loader_shuffles_drops_last_and_workers_follow_the_epoch(items):
    cfg = DataConfig(image_size=16, num_frames=4, num_workers=2)
    ds = ClipDataset(items, cfg, train=True, seed=0)
    loader = build_dataloader(ds, 4, train=True, seed=1)
    set_loader_epoch(loader, 0)
    batches = list(loader)
    assert len(batches) == 1 and batches[0][0].shape == (4, 4, 3, 16, 16)  # 6 clips, batch 4, drop_last
    # persistent workers must see a new epoch: every clip equals the in-process sample of that epoch
    one = build_dataloader(ds, 1, train=True, seed=1, drop_last=False)
    reference = ClipDataset(items, cfg, train=True, seed=0)
    for epoch in (0, 3):
        set_loader_epoch(one, epoch)
        reference.set_epoch(epoch)
        seen = {int(y): x[0] for x, y in one}  # labels 0..5 are the item indices here
        assert sorted(seen) == list(range(6))
        assert all(torch.equal(clip, reference[i][0]) for i, clip in seen.items())


def test_named_dataset_resolves_annotation_folder_and_root(tmp_path):
    for name in ("00001", "00002"):
        _frames(tmp_path / "DFEW" / "clip_224x224" / name, 20)
    ann = tmp_path / "annotation"
    ann.mkdir()
    (ann / "DFEW_set_1_train.txt").write_text("D:/Kmu/DFEWdataset/Clip/clip_224x224/00001 20 0\r\n"
                                              "D:/Kmu/DFEWdataset/Clip/clip_224x224/00002 20 4\r\n")
    cfg = DataConfig(dataset="dfew", fold=1, manifest=str(ann), root=str(tmp_path / "DFEW" / "clip_224x224"),
                     image_size=32, num_frames=16)
    assert cfg.augment == "dfew" and cfg.label_set == "basic7"
    items = load_dataset_items(cfg, "train", progress=False)
    assert [(i.path.name, i.label) for i in items] == [("00001", 0), ("00002", 4)]
    clip, label = ClipDataset(items, cfg, train=True)[1]
    assert clip.shape == (16, 3, 32, 32) and label == 4


def test_video_file_items_are_counted_and_sampled(tmp_path):
    from test_data_video_decoding import write_video

    video = write_video(tmp_path / "v.mp4", "libx264")
    cfg = DataConfig(image_size=16, num_frames=4)
    ds = ClipDataset([ClipItem(video, 1)], cfg, train=False)
    clip, _ = ds[0]
    assert ds.num_frames(ds.items[0]) == 20
    # tick 5: frames 2, 7, 12, 17 -> grey 40, 90, 140, 190
    assert np.allclose(clip.mean(dim=(1, 2, 3)).numpy() * 255, [40, 90, 140, 190], atol=4)


def test_csim_sampling_picks_indices_from_all_frames(items):
    csim = pytest.importorskip("peclip.data.csim_sampling", reason="CSIM sampling module not there yet")
    from peclip.data.video import read_all_frames

    cfg = DataConfig(image_size=16, num_frames=4, sampling="csim")
    ds = ClipDataset(items[:1], cfg, train=True)
    rng, _ = ds.generators(0)
    frames = ds.load_frames(0, rng)
    everything = read_all_frames(items[0].path)
    expected = everything[csim.csim_frame_indices(everything, 4)]
    assert np.array_equal(frames, expected)
    assert ds[0][0].shape == (4, 3, 16, 16)


def test_config_validation_names_the_bad_value():
    with pytest.raises(ValueError, match="data.sampling='random'.*tsn, csim"):
        DataConfig(sampling="random")
    with pytest.raises(ValueError, match="fold"):
        DataConfig(dataset="dfew", fold=7)
    with pytest.raises(ValueError, match="no folds"):
        DataConfig(dataset="ferv39k", fold=1)
    with pytest.raises(ValueError, match="mafw11"):
        DataConfig(dataset="mafw", label_set="basic7")
    with pytest.raises(ValueError, match="unknown data keys: colour; valid keys:"):
        DataConfig.from_dict({"colour": 1})
    assert DataConfig.from_dict({"dataset": "FERV39K"}).augment == "ferv39k"
