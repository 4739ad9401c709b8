"""``peclip strip-captions``: remove explicit emotion words from the captions of a manifest or caption file."""

from __future__ import annotations

import argparse

HELP = ("remove explicit emotion words (a configurable list) from the captions of a CSV manifest or a caption "
        "JSON, for caption training evaluated zero-shot")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a CSV manifest with a 'caption' column, or a caption JSON "
                        "({clip path: caption})")
    parser.add_argument("--out", required=True, help="where to write the stripped copy (same format; the source "
                        "is never changed)")
    parser.add_argument("--words", help="a word list file, one word or phrase a line (default: the built-in "
                        "emotion words, peclip.data.captions.EMOTION_WORDS)")
    parser.add_argument("--add", action="append", default=[], metavar="WORD",
                        help="a further word or phrase to strip (repeatable)")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: keeps `peclip --help` light.
    from peclip.data.captions import EMOTION_WORDS, read_word_list, strip_caption_file

    words = [*(read_word_list(args.words) if args.words else EMOTION_WORDS), *args.add]
    count, changed = strip_caption_file(args.source, args.out, words)
    print(f"{changed} of {count} captions changed ({len(words)} words stripped); written to {args.out}")
    return 0
