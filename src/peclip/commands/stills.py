"""``peclip stills DATASET ROOT``: a still-image FER set, read by its published layout, as a checked manifest."""

from __future__ import annotations

import argparse

from peclip.data.stills import STILL_SETS

HELP = ("read a still-image FER set (RAF-DB, AffectNet, FER2013/FERPlus, KDEF, SFEW, class folders) into a "
        "checked CSV manifest; --unpack writes FER2013's CSV of pixels as images")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=sorted(STILL_SETS), help="the set's layout (see docs/stills.md)")
    parser.add_argument("root", help="the folder of your copy of the set (with --unpack: fer2013.csv)")
    parser.add_argument("--manifest", help="the set's label file or folder when it is not where the layout says "
                                           "(RAF-DB list_patition_label.txt, AffectNet's CSV folder)")
    parser.add_argument("--label-set", help="basic7, basic8 or mafw11 (default: the set's own)")
    parser.add_argument("--output", "-o", required=True, metavar="CSV",
                        help="the manifest to write (path,label,split[,fold]; paths relative to its folder); "
                             "with --unpack, the folder for the images and manifest.csv")
    parser.add_argument("--unpack", action="store_true",
                        help="fer2013 / ferplus: ROOT is fer2013.csv (emotion,pixels,Usage); write its rows as PNGs")
    parser.add_argument("--ferplus-votes", metavar="CSV", help="with --unpack: fer2013new.csv, FERPlus's vote counts "
                                                               "(majority labels, 8 classes)")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: reading and scanning images imports the decoders, which `peclip --help` must not wait for.
    from peclip.data.manifest import Problem
    from peclip.data.scan import scan_items
    from peclip.data.stills import get_still_set, read_still_set, unpack_fer_csv, write_still_manifest
    from peclip.labels import get_label_set

    spec = get_still_set(args.dataset)
    if args.unpack:
        if spec.name not in ("fer2013", "ferplus"):
            raise ValueError(f"--unpack reads FER2013's CSV of pixels (fer2013 or ferplus), not {spec.name}")
        votes = args.ferplus_votes if spec.name == "ferplus" else None
        if spec.name == "ferplus" and votes is None:
            raise ValueError("ferplus --unpack needs --ferplus-votes fer2013new.csv (FERPlus's vote counts)")
        manifest = unpack_fer_csv(args.root, args.output, votes, args.label_set)
        print(f"unpacked {args.root} into {manifest.parent}; manifest {manifest}")
        return 0
    label_set = args.label_set or spec.label_set
    problems: list[Problem] = []
    items = read_still_set(spec.name, args.root, args.manifest, label_set, problems)
    report = scan_items(items, get_label_set(label_set), problems)
    print(report.format())
    if report.items:
        written = write_still_manifest(report.items, args.output, label_set)
        splits = sorted({i.split or f"fold {i.fold}" for i in report.items}, key=str)
        print(f"{len(report.items)} images ({', '.join(splits)}) written to {written}")
    return 0 if report.ok else 1
