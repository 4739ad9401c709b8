"""Does distillation help? A light student trained with and without a teacher, several seeds, same steps.

    python benchmarks/bench_distill.py [--train-clips 64] [--test-clips 256] [--noise 0.25]
                                       [--student-epochs 8] [--teacher-epochs 40] [--seeds 0 1 2]
                                       [--colours random] [--out DIR] [--json out.json]

The recipes' synthetic motion task saturates (every student reaches 100 %, docs/light.md), so it
cannot show a difference. This makes it harder, in the ways distillation is meant to help with:

- few training clips (``--train-clips``) with random colours (``--colours random``: square and
  background colours drawn per clip);
- noisy labels: a share ``--noise`` of the training clips get the other class's label (the test
  clips keep their true labels);
- a short run (``--student-epochs``).

The teacher (the ``synthetic`` recipe's tiny PE-CLIP) is trained once on exactly the students'
training clips and noisy labels, so the only thing a distilled student gets that the plain one does
not is the teacher's soft labels. Each student seed (``train.seed``: initialisation and order) trains
the ``synthetic-light`` recipe's model twice, ``plain`` (labels only) and ``distilled``
(``train.distill.teacher``, the default loss 0.9 KL at tau 4 + 0.1 CE), for the same epochs and steps.
The table gives the test WAR/UAR of the last epoch per seed, their mean and standard deviation, and
how often the teacher's cached logits overrule a flipped training label.

Everything runs in this one process on the CPU (1 thread); no timing is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
from peclip.cli import main  # noqa: E402
from peclip.data.synthetic import MotionSpec, write_motion_dataset  # noqa: E402
from peclip.train.config import read_recipe_file  # noqa: E402
from peclip.train.distill import CACHE_FILE  # noqa: E402

QUIET = ["--set", "train.progress=false", "--set", "run.tensorboard=false", "--set", "train.device=cpu"]


def write_data(root: Path, args) -> dict:
    """The clips, and ``train.txt`` with a share ``args.noise`` of its labels flipped (``train_clean.txt``
    keeps the true ones); returns the clean labels and the flipped indices."""
    spec = MotionSpec(num_classes=2, num_frames=8, size=32, colours=args.colours)
    write_motion_dataset(root, args.train_clips, args.test_clips, spec, seed=args.data_seed)
    lines = (root / "train.txt").read_text().splitlines()
    (root / "train_clean.txt").write_text("\n".join(lines) + "\n")
    clean = [int(line.split()[2]) for line in lines]
    flipped = np.random.default_rng(args.data_seed).choice(len(lines), round(args.noise * len(lines)), replace=False)
    noisy = list(clean)
    for i in flipped:
        noisy[i] = 1 - clean[i]  # the other of the two classes
    (root / "train.txt").write_text("".join(f"{line.rsplit(' ', 1)[0]} {y}\n" for line, y in zip(lines, noisy,
                                                                                                 strict=True)))
    return {"clean": clean, "flipped": sorted(int(i) for i in flipped)}


def recipe_file(base: str, data_root: Path, epochs: int, folder: Path) -> Path:
    """``base`` (a built-in recipe) on the written clips instead of its generated ones, for ``epochs``."""
    _, raw = read_recipe_file(base)
    raw.pop("synthetic", None)
    raw.pop("expected", None)
    raw["data"].update(root=str(data_root), manifest=str(data_root / "train.txt"),
                       test_manifest=str(data_root / "test.txt"))
    raw["train"].update(epochs=epochs, eval_every=epochs)
    raw["train"]["schedule"]["t_initial"] = epochs
    path = folder / f"{base}-{epochs}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def last(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())["last"]


def train(recipe: Path, out: Path, name: str, *extra: str) -> dict:
    code = main(["train", "--recipe", str(recipe), "--output-dir", str(out), "--name", name, *QUIET, *extra])
    if code != 0:
        raise SystemExit(f"training {name} failed (exit {code})")
    return last(out / name)


def teacher_overrules(run: Path, labels: dict) -> tuple[float, float]:
    """Shares of the flipped and of all training clips on which the teacher's cached logits pick the true class."""
    logits = load_file(str(run / CACHE_FILE))["logits"]
    picks = logits.argmax(dim=1).numpy()
    clean = np.asarray(labels["clean"])
    flipped = labels["flipped"]
    on_flipped = float((picks[flipped] == clean[flipped]).mean()) if flipped else float("nan")
    return 100 * on_flipped, 100 * float((picks == clean).mean())


def summary(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.1f} +- {spread:4.1f}"


def run(args, out: Path) -> dict:
    data = out / "data"
    labels = write_data(data, args)
    recipes = out / "recipes"
    recipes.mkdir()
    teacher = train(recipe_file("synthetic", data, args.teacher_epochs, recipes), out, "teacher",
                    "--set", f"train.seed={args.teacher_seed}")
    student = recipe_file("synthetic-light", data, args.student_epochs, recipes)
    rows = {"plain": [], "distilled": []}
    for seed in args.seeds:
        for mode in rows:
            extra = ["--set", f"train.distill.teacher={out / 'teacher'}"] if mode == "distilled" else []
            rows[mode].append(train(student, out, f"{mode}-{seed}", "--set", f"train.seed={seed}", *extra))
    overrule_flipped, overrule_all = teacher_overrules(out / f"distilled-{args.seeds[0]}", labels)
    return {"teacher": teacher, "students": rows, "teacher_true_on_flipped": overrule_flipped,
            "teacher_true_on_train": overrule_all}


def main_(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-clips", type=int, default=64)
    parser.add_argument("--test-clips", type=int, default=256)
    parser.add_argument("--noise", type=float, default=0.25, help="share of training labels flipped")
    parser.add_argument("--colours", choices=("fixed", "random"), default="random")
    parser.add_argument("--student-epochs", type=int, default=8)
    parser.add_argument("--teacher-epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher-seed", type=int, default=42)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 0 <= args.noise < 0.5:
        parser.error(f"--noise {args.noise} must lie in [0, 0.5): at 0.5 the labels say nothing")
    torch.set_num_threads(args.threads)
    info = common.machine_info(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        result = run(args, out)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "json")}
    print(f"\nmachine: {info['cpu']}, {info['cores']} cores, load average at the start {info['load_average']}")
    print(f"setting: {settings}")
    t = result["teacher"]
    print(f"teacher (tiny PE-CLIP, {args.teacher_epochs} epochs on the students' clips and labels): WAR {t['war']:.1f} "
          f"UAR {t['uar']:.1f}; its logits pick the true class on {result['teacher_true_on_flipped']:.1f} % of the "
          f"flipped training clips ({result['teacher_true_on_train']:.1f} % of all)")
    print(f"\n| student ({args.student_epochs} epochs) | " + " | ".join(f"seed {s}" for s in args.seeds)
          + " | mean +- sd (WAR) | mean (UAR) |")
    print("|---" * (len(args.seeds) + 3) + "|")
    for mode, rows in result["students"].items():
        wars = [r["war"] for r in rows]
        print(f"| {mode} | " + " | ".join(f"{w:.1f}" for w in wars)
              + f" | {summary(wars)} | {statistics.mean(r['uar'] for r in rows):.1f} |")
    wins = [d["war"] - p["war"] for d, p in zip(result["students"]["distilled"], result["students"]["plain"],
                                                 strict=True)]
    print(f"\ndistilled - plain, per seed (WAR points): {', '.join(f'{w:+.1f}' for w in wins)}; mean {summary(wins)}; "
          f"distilled ahead on {sum(w > 0 for w in wins)} of {len(wins)} seeds")
    print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "settings": settings, **result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main_())
