"""The ``peclip`` command line: one sub-command per module in :mod:`peclip.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
The CLI only parses; the work happens in library functions the command module calls. Command modules
import only light modules (options, defaults) at the top and load torch when they run, so ``peclip
--help`` and ``peclip COMMAND --help`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from peclip import __version__

#: sub-command name -> module under peclip.commands
COMMANDS = {
    "info": "info",
    "train": "train",
    "eval": "eval",
    "csim": "csim",
    "prepare": "prepare",
    "scan": "scan",
    "predict": "predict",
    "convert": "convert",
    "push": "push",
    "explain": "explain",
    "embed": "embed",
    "live": "live",
    "strip-captions": "strip_captions",
    "stills": "stills",
    "export": "export",
    "image-folds": "image_folds",
    "bench-cpu": "bench_cpu",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peclip", description="PE-CLIP dynamic facial expression recognition")
    parser.add_argument("--version", action="version", version=f"peclip {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"peclip.commands.{module_name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def _configure_logging(verbose: bool) -> None:
    # Only peclip's own loggers speak at INFO; third-party libraries (open_clip logs on the root
    # logger) stay at WARNING.
    logger = logging.getLogger("peclip")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback. Outputs are written atomically, so what exists is whole.
        print(f"\npeclip {args.command}: interrupted; the files already written are whole (a rerun of prepare skips "
              "finished videos; train --resume RUN goes on from the last epoch)", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, ImportError) as err:
        # Library errors are written to be read by people: show the message, not a traceback. OSError covers
        # FileNotFoundError, FileExistsError, NotADirectoryError and PermissionError; ImportError a missing
        # optional package (e.g. a face detector's), whose message names the pip install.
        if args.verbose:
            raise
        print(f"peclip {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
