"""Expected numbers and the checks that most often explain a gap to them (``peclip eval``).

A recipe's ``expected`` section holds the published UAR/WAR it should reproduce; :func:`compare_expected`
puts a run's numbers beside them and :func:`gap_checks` lists what usually explains a difference:
frames per clip in the annotation vs on disk, classes with no test clip, the model selection used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from peclip.data.video import VideoReadError, count_frames
from peclip.evaluation.report import SELECTION_TEXT


def compare_expected(metrics: dict, expected) -> dict:
    """The run's UAR/WAR beside a recipe's ``expected`` numbers (:class:`~peclip.train.config.ExpectedSection`)."""
    out = {"source": expected.source, "protocol": expected.protocol, "selection": expected.selection}
    for name in ("uar", "war"):
        want = getattr(expected, name)
        out[name] = {"run": float(metrics[name]), "expected": want,
                     "diff": None if want is None else round(float(metrics[name]) - want, 2)}
    return out


def format_expected(comparison: dict) -> list[str]:
    lines = [f"expected numbers ({comparison['source']}):"]
    if all(comparison[n]["expected"] is None for n in ("uar", "war")):
        return lines + ["  none published to compare with"]
    for name in ("uar", "war"):
        row = comparison[name]
        if row["expected"] is None:
            lines.append(f"  {name.upper()} {row['run']:6.2f}  expected   none")
        else:
            lines.append(f"  {name.upper()} {row['run']:6.2f}  expected {row['expected']:6.2f}  "
                         f"diff {row['diff']:+6.2f}")
    if comparison["protocol"]:
        lines.append(f"  protocol of the expected numbers: {comparison['protocol']}")
    return lines


def gap_checks(items: Sequence, class_names: Sequence[str], selection: str, frames_sampled: int,
               expected_selection: str | None = None, limit: int = 200) -> list[str]:
    """The checks that most often explain a gap to published numbers, as lines to print.

    Frames per clip as the annotation states them against what is on disk (up to ``limit`` clips,
    evenly spread), classes without a test clip (their recall is undefined and UAR averages the
    others), and the model selection that produced the numbers.
    """
    lines = []
    spread = np.linspace(0, len(items) - 1, limit, dtype=int)
    picked = list(items) if len(items) <= limit else [items[i] for i in spread]
    stated, on_disk, differ, unreadable = [], [], [], 0
    for item in picked:
        try:
            n = count_frames(item.path)
        except (OSError, VideoReadError):
            unreadable += 1
            continue
        on_disk.append(n)
        if item.num_frames is not None:
            stated.append(item.num_frames)
            if item.num_frames != n:
                differ.append(f"{Path(item.path).name}: {item.num_frames} listed, {n} on disk")
    where = f"{len(picked)} of {len(items)} clips" if len(picked) < len(items) else f"all {len(items)} clips"
    if on_disk:
        disk = f"median {int(np.median(on_disk))} on disk (min {min(on_disk)}, max {max(on_disk)})"
        if stated:
            lines.append(f"frames per clip ({where}): median {int(np.median(stated))} in the annotation, {disk}; "
                         f"{len(differ)} clips differ{' (e.g. ' + '; '.join(differ[:3]) + ')' if differ else ''}")
        else:
            lines.append(f"frames per clip ({where}): the annotation states none; {disk}")
        short = sum(1 for n in on_disk if n < frames_sampled)
        if short:
            lines.append(f"  {short} clips have fewer than the {frames_sampled} frames sampled per clip (edge-padded)")
    if unreadable:
        lines.append(f"  {unreadable} clips could not be counted (missing or unreadable); run peclip scan")
    present = {i.label for i in items}
    absent = [name for index, name in enumerate(class_names) if index not in present]
    lines.append(f"classes with no test clip: {', '.join(absent)} (UAR averages the others)" if absent
                 else f"classes with no test clip: none (all {len(class_names)} present)")
    used = SELECTION_TEXT.get(selection, f"selection: {selection}")
    if expected_selection is not None and expected_selection != selection:
        used += (f"; the expected numbers used {SELECTION_TEXT[expected_selection].removeprefix('selection: ')}"
                 + (", which is optimistic: expect this run lower" if expected_selection == "test" else ""))
    lines.append(used)
    return lines
