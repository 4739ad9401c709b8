"""``peclip scan``: check a dataset before training and list every problem with its file and line."""

from __future__ import annotations

import argparse

from peclip.data.config import DataConfig
from peclip.data.specs import DATASETS
from peclip.data.stills import STILL_SETS

HELP = "check a dataset (missing files, empty/unreadable clips, unknown labels, malformed lines) before training"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="annotation folder of a named dataset, or a CSV / annotation file")
    parser.add_argument("--dataset", default="custom", choices=["custom", *DATASETS, *STILL_SETS],
                        help="named dataset (its annotation file names, label set and path anchors), a still-image "
                             "set (its layout under --root; docs/stills.md) or custom")
    parser.add_argument("--root", help="folder the manifest's paths are relative to (default: its folder)")
    parser.add_argument("--test-manifest", help="separate test-split file (custom datasets)")
    parser.add_argument("--strip-prefix", help="path prefix of the manifest to replace by --root")
    parser.add_argument("--label-set", help="basic7, mafw11 or basic8 (default: the dataset's; basic7 for custom)")
    parser.add_argument("--fold", type=int, help="fold to check (DFEW, MAFW, or a CSV with a fold column)")
    parser.add_argument("--split", action="append", choices=("train", "test"),
                        help="split(s) to check (default: train and test where the manifest has them)")
    parser.add_argument("--deep", action="store_true", help="decode every frame instead of the first and last")
    parser.add_argument("--report", help="write every problem and warning to this TSV file")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: reading clips imports torch and the decoders, which `peclip --help` must not wait for.
    from peclip.data.dataset import MissingSplitError, scan_split
    from peclip.data.scan import ScanReport

    cfg = DataConfig(dataset=args.dataset, root=args.root, manifest=args.manifest, test_manifest=args.test_manifest,
                     strip_prefix=args.strip_prefix, label_set=args.label_set, fold=args.fold)
    splits = args.split or ["train", "test"]
    bad = 0
    reports = []
    for split in splits:
        try:
            report = scan_split(cfg, split, progress=True, deep=args.deep)
        except MissingSplitError as err:
            if args.split is not None:
                raise
            print(f"[{split}] not checked: {err}")
            continue
        reports.append(report)
        print(f"[{split}] {report.format()}")
        bad += len(report.problems)
    if args.report and reports:
        merged = ScanReport(problems=[p for r in reports for p in r.problems],
                            warnings=[w for r in reports for w in r.warnings])
        print(f"report written to {merged.write(args.report)}")
    return 1 if bad else 0
