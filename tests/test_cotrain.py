"""Static-for-dynamic co-training: the domain batch sampler keeps S4D's repeat factors over an epoch, and a
tiny co-trained run (videos + stills) trains, reports per-domain metrics and resumes exactly."""

import json
from collections import Counter

import pytest
import torch
from safetensors.torch import load_file

from peclip.cli import main
from peclip.data.cotrain import DomainBatchSampler, DomainDataset, remap_to_classes
from peclip.data.manifest import ClipItem
from peclip.data.synthetic import ShapeSpec, write_shape_dataset
from peclip.train import trainer
from peclip.train.config import load_recipe


def _domain_of(index, sizes):
    return 0 if index < sizes[0] else 1


@pytest.mark.parametrize("sizes,repeats", [((300, 1000), (1.0, 0.5)), ((1170, 2870), (1.0, 0.5)),
                                           ((500, 700), (1.0, 2.3))])
def test_the_mixed_sampler_keeps_the_repeat_ratio_over_an_epoch(sizes, repeats):
    sampler = DomainBatchSampler(sizes, repeats, batch_size=8, seed=3)
    sampler.set_epoch(1)
    seen = Counter()
    for batch in sampler:
        domains = {_domain_of(i, sizes) for i in batch}
        assert len(domains) == 1 and len(batch) == 8  # one domain per batch
        seen[domains.pop()] += len(batch)
    expected = [r * n for n, r in zip(sizes, repeats, strict=True)]
    share = seen[1] / (seen[0] + seen[1])
    assert abs(share - expected[1] / sum(expected)) < 0.02
    assert all(abs(seen[d] - expected[d]) <= 8 for d in (0, 1))  # only the last part-batch is dropped


def test_a_domain_repeated_more_than_once_sees_every_sample_before_any_twice():
    sampler = DomainBatchSampler([10, 20], [2.5, 1.0], batch_size=5, seed=0)
    video = [i for b in sampler for i in b if i < 10]
    counts = Counter(video)
    assert len(video) == 25 and set(counts) == set(range(10)) and set(counts.values()) == {2, 3}


def test_processes_train_on_the_same_domain_in_every_step_with_disjoint_samples():
    ranks = [DomainBatchSampler([64, 96], [1.0, 0.5], batch_size=4, seed=1, rank=r, world_size=2) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(2)
    steps = list(zip(*[list(s) for s in ranks], strict=True))
    assert len(steps) == len(ranks[0]) == 64 // 8 + 48 // 8
    for a, b in steps:
        assert _domain_of(a[0], (64, 96)) == _domain_of(b[0], (64, 96)) and not set(a) & set(b)


@pytest.mark.parametrize("world_size,grad_accum", [(2, 1), (1, 2), (2, 2), (4, 1)])
def test_an_optimizer_step_takes_the_same_samples_however_processes_and_accumulation_split_it(world_size,
                                                                                               grad_accum):
    global_batch = 8  # samples per optimizer step
    per_micro = global_batch // (world_size * grad_accum)

    def steps(world, accum, micro):
        ranks = [DomainBatchSampler([40, 64], [1.0, 0.5], micro, seed=4, rank=r, world_size=world,
                                    grad_accum=accum) for r in range(world)]
        for sampler in ranks:
            sampler.set_epoch(1)
            assert len(sampler) == (40 // 8 + 32 // 8) * accum  # micro-batches per process
        micro_batches = [list(sampler) for sampler in ranks]  # per rank: its micro-batches in order
        # step k of rank r is its micro-batches k*accum .. k*accum + accum - 1
        return [[i for r in range(world) for b in micro_batches[r][k * accum:(k + 1) * accum] for i in b]
                for k in range(len(micro_batches[0]) // accum)]

    one = steps(1, 1, global_batch)
    split = steps(world_size, grad_accum, per_micro)
    assert split == one  # the same samples in the same order: rank-major, then micro-batch
    for step in split:
        assert len({_domain_of(i, (40, 64)) for i in step}) == 1  # never two domains in one step


def test_an_epoch_is_a_function_of_seed_and_epoch():
    a, b = DomainBatchSampler([40, 40], [1.0, 0.5], 4, seed=5), DomainBatchSampler([40, 40], [1.0, 0.5], 4, seed=5)
    a.set_epoch(3), b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)


def _skewed_labels(counts):
    return [c for c, n in enumerate(counts) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_static_set_balanced_by_class_draws_each_class_about_equally_at_its_repeat_share(seed):
    # 7 classes, 64:1 (AffectNet-7's train split is ~25:1); 10160 draws: a class's share has sd 0.0035
    videos, counts = 3000, [10240, 5120, 2560, 1280, 640, 320, 160]
    labels = [None, _skewed_labels(counts)]
    sizes, repeats = (videos, sum(counts)), (1.0, 0.5)
    plain = DomainBatchSampler(sizes, repeats, 8, seed=seed)
    balanced = DomainBatchSampler(sizes, repeats, 8, seed=seed, labels=labels)
    for sampler in (plain, balanced):
        sampler.set_epoch(2)
    assert balanced.batches_per_domain() == plain.batches_per_domain()  # the static/dynamic ratio is kept
    still_labels = {}
    for name, sampler in (("plain", plain), ("balanced", balanced)):
        drawn = [i for batch in sampler for i in batch]
        stills = [i - videos for i in drawn if i >= videos]
        assert len(stills) == 10160 and len(drawn) - len(stills) == 3000  # 0.5 x 20320 in batches of 8
        still_labels[name] = Counter(labels[1][i] for i in stills)
    shares = [still_labels["balanced"][c] / 10160 for c in range(7)]
    assert all(abs(share - 1 / 7) < 0.02 for share in shares), shares
    assert still_labels["plain"][6] / 10160 < 0.02  # without balancing the rarest class stays rare
    again = DomainBatchSampler(sizes, repeats, 8, seed=seed, labels=labels)
    again.set_epoch(2)
    assert list(again) == list(balanced)  # a function of (seed, epoch)
    ranks = [DomainBatchSampler(sizes, repeats, 4, seed=seed, rank=r, world_size=2, labels=labels) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(2)
    merged = [a + b for a, b in zip(*[list(s) for s in ranks], strict=True)]
    assert merged == list(balanced)  # under DDP each process takes its slice of the same global batches


def test_class_balancing_weights_give_each_class_the_same_total():
    from peclip.data.cotrain import class_balanced_weights

    weights = class_balanced_weights([0, 0, 0, 2, 5, 5])  # class 2: one image; classes 0 and 5 share theirs
    assert weights.tolist() == pytest.approx([1 / 9, 1 / 9, 1 / 9, 1 / 3, 1 / 6, 1 / 6])
    with pytest.raises(ValueError, match="1 have no label"):
        class_balanced_weights([0, -1, 1])


def test_a_static_sets_balance_is_checked_by_name():
    from peclip.train.config import StaticSet

    assert StaticSet(data={"dataset": "rafdb"}).balance == "none"
    with pytest.raises(ValueError, match=r"cotrain.static rafdb.balance='class' is not valid; choose one of: "
                                         r"none, classes"):
        StaticSet(data={"dataset": "rafdb"}, balance="class")


def test_a_domain_too_small_for_one_batch_is_refused_with_its_name():
    with pytest.raises(ValueError, match="rafdb gives no batch per epoch: 3 samples"):
        DomainBatchSampler([100, 6], [1.0, 0.5], 4, names=["video", "rafdb"])


def test_the_domain_dataset_tags_each_sample_with_its_domain():
    data = DomainDataset([[("v", 0)] * 3, [("s", 1)] * 2], ["video", "shapes"])
    assert [data[i][2] for i in range(5)] == [0, 0, 0, 1, 1] and data.locate(4) == (1, 1)


def test_static_labels_are_remapped_onto_the_models_classes_by_name():
    items = [ClipItem("a.png", 0), ClipItem("b.png", 7), ClipItem("c.png", 3)]  # basic8: happiness, contempt, anger
    basic8 = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear", "contempt"]
    kept = remap_to_classes(items, basic8, ["anger", "happiness"], "affectnet8")
    assert [(str(i.path), i.label) for i in kept] == [("a.png", 1), ("c.png", 0)]  # contempt left out


# ------------------------------------------------------------------------------------ a co-trained run


def _recipe(tmp_path, heads="shared", moe=False, balance="none"):
    stills = write_shape_dataset(tmp_path / "stills", 16, 8, ShapeSpec(colours="fixed"))
    text = f"""
base: synthetic
model:
  overrides:
    num_frames: 4
    heads: {heads}
    adapters.moe.enabled: {str(moe).lower()}
    adapters.moe.last_blocks: 1
synthetic: {{num_train: 16, num_test: 8, num_frames: 4}}
data: {{mix_prob_mixup: 0.4, mix_prob_fmix: 0.3}}
train: {{epochs: 2, batch_size: 4, progress: false, lr_adapters: 1.0e-2, schedule: {{t_initial: 2}}}}
cotrain:
  static:
    - name: shapes
      repeat: 0.5
      balance: {balance}
      evaluate: true
      data: {{dataset: custom, manifest: {stills / 'manifest.csv'}, augment: mafw, num_workers: 0}}
"""
    path = tmp_path / "co.yaml"
    path.write_text(text)
    return path


def _state(run):
    weights = load_file(str(run / "checkpoints" / "last" / "trainable.safetensors"))
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [{k: v for k, v in zip(header, line.split(","), strict=True) if k not in ("clips_per_s", "train_seconds")}
            for line in lines[1:]]
    return weights, rows, json.loads((run / "results.json").read_text())


def test_a_co_trained_run_reports_per_domain_metrics_and_resumes_exactly(tmp_path, monkeypatch, one_thread, capsys):
    recipe = _recipe(tmp_path, heads="separate", moe=True, balance="classes")
    assert load_recipe(recipe).cotrain.static[0].repeat == 0.5
    assert main(["train", "--recipe", str(recipe), "--output-dir", str(tmp_path), "--name", "unbroken"]) == 0
    real = trainer.train_one_epoch

    def interrupted(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", interrupted)
    code = main(["train", "--recipe", str(recipe), "--output-dir", str(tmp_path), "--name", "broken"])
    assert code == 130  # Ctrl-C: one line, exit 130 (cli.main)
    monkeypatch.setattr(trainer, "train_one_epoch", real)
    assert main(["train", "--resume", str(tmp_path / "broken")]) == 0
    capsys.readouterr()
    weights_a, rows_a, results_a = _state(tmp_path / "unbroken")
    weights_b, rows_b, results_b = _state(tmp_path / "broken")
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert rows_a == rows_b and results_a["last"] == results_b["last"]
    row = rows_a[-1]
    # 16 videos x 1.0 in batches of 4, 16 stills x 0.5: 4 video batches and 2 still batches per epoch
    assert (row["train_clips_video"], row["train_clips_shapes"]) == ("16", "8")
    for key in ("train_loss_video", "train_acc_shapes", "eval_shapes_uar", "eval_shapes_war", "eval_war"):
        assert row[key] not in ("", "nan"), key
    assert any(k.startswith("domain_heads.") for k in weights_a)  # separate heads were trained and saved
    assert any(".mlp.adapter." in k for k in weights_a)  # and the MoAE
    log = (tmp_path / "unbroken" / "log.txt").read_text()
    assert "co-training: video 4 batches (1 x 16), shapes 2 batches (0.5 x 16, balanced by class)" in log
    assert "shapes loss" in log and "shapes test UAR" in log


@pytest.mark.slow
def test_co_training_on_two_cpu_processes_matches_one(tmp_path, one_thread, capsys):
    """2 processes with 2 stills or clips each equal 1 process accumulating two micro-batches of 2.

    Both compute every micro-batch at the same shape, and the sampler gives the step the same
    samples whatever the split (``grad_accum`` x processes), so the arithmetic is the same: on this
    machine the weights come out bit-identical (seeds 42, 1, 5). One process with one batch of 4
    is the same sum, but rounded differently: its step-0 gradients are ~5e-6 (relative) off the
    float64 values, as DDP's are, and AdamW's per-element normalisation turns that rounding of
    near-zero gradient entries into steps of up to ~1e-4 after 6 steps at lr 1e-2 (measured:
    0.4x-6x a 1e-4 tolerance over seeds 0-4), so that comparison cannot tell a bug from rounding.
    """
    import os
    import subprocess
    import sys

    recipe = _recipe(tmp_path, heads="separate")
    args = ["train", "--recipe", str(recipe), "--output-dir", str(tmp_path), "--set", "train.epochs=1",
            "--set", "data.mix_prob_mixup=0", "--set", "data.mix_prob_fmix=0", "--set", "train.device=cpu"]
    assert main([*args, "--set", "train.grad_accum=2", "--name", "one"]) == 0
    capsys.readouterr()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "peclip.cli", *args, "--name", "two"]
    proc = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    w1, rows1, _ = _state(tmp_path / "one")
    w2, rows2, _ = _state(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for key in w1:  # a wrong domain, slice or gradient sync shows at the scale of the updates (~1e-3)
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-6, atol=1e-8, msg=key)
    for key in ("train_clips_video", "train_clips_shapes"):
        assert rows1[0][key] == rows2[0][key]
    for key in ("train_loss_video", "train_loss_shapes", "eval_uar", "eval_shapes_uar"):
        assert float(rows2[0][key]) == pytest.approx(float(rows1[0][key]), rel=1e-6), key


def test_co_training_runs_every_fold_with_the_same_static_set(tmp_path, one_thread, capsys):
    import csv

    from peclip.data.synthetic import MotionSpec, write_motion_dataset

    data = tmp_path / "videos"
    annotations = write_motion_dataset(data, num_train=12, num_test=1, spec=MotionSpec(num_frames=4), seed=3)
    with open(data / "folds.csv", "w", newline="") as fh:  # fold k's clips are fold k's test set
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "fold"])
        for i, (path, _, label) in enumerate(line.split() for line in annotations["train"].read_text().splitlines()):
            writer.writerow([path, label, (i // 2) % 2 + 1])  # both classes in every fold
    recipe = _recipe(tmp_path)
    text = recipe.read_text().replace("synthetic: {num_train: 16, num_test: 8, num_frames: 4}",
                                      f"synthetic: null\ndata: {{manifest: {data / 'folds.csv'}}}")
    recipe.write_text(text.replace("data: {mix_prob_mixup: 0.4, mix_prob_fmix: 0.3}\n", "")
                      .replace("batch_size: 4", "batch_size: 2").replace("epochs: 2", "epochs: 1"))
    assert main(["train", "--recipe", str(recipe), "--folds", "1,2", "--output-dir", str(tmp_path),
                 "--name", "cv"]) == 0
    capsys.readouterr()
    for fold in (1, 2):
        run = tmp_path / "cv" / f"fold{fold}"
        _, rows, results = _state(run)
        assert results["fold"] == fold and results["selected"]["num_samples"] == 6  # its own test clips
        # 6 train videos x 1.0 and 16 stills x 0.5, in batches of 2
        assert (rows[0]["train_clips_video"], rows[0]["train_clips_shapes"]) == ("6", "8")
        assert rows[0]["eval_shapes_uar"] not in ("", "nan")
        assert "co-training: video 3 batches (1 x 6), shapes 4 batches (0.5 x 16)" in (run / "log.txt").read_text()
    with open(tmp_path / "cv" / "summary.csv") as fh:
        assert [r["fold"] for r in csv.DictReader(fh)] == ["1", "2", "mean", "std"]
