"""``peclip push RUN ORG/NAME``: a run's checkpoint and its model card to the Hugging Face Hub, verified."""

from __future__ import annotations

import argparse

HELP = "upload a run's checkpoint with a model card (metrics, provenance, sha256) to the Hugging Face Hub"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run folder (its selected checkpoint) or a checkpoint folder")
    parser.add_argument("repo", help="the hub repository, ORG/NAME (load it later as hf-hub:ORG/NAME)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: the hub client and the model stack load only when the command runs.
    from peclip.train import card

    commit = card.push(args.run, args.repo, private=args.private)
    print(f"pushed {args.run} to hf-hub:{args.repo} (commit {commit}); every file read back and its sha256 checked")
    return 0
