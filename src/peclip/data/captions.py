"""Captions for caption-supervised training (docs/text-supervision.md): reading them, and removing words.

A clip's caption is one text describing it ("a person raises both eyebrows and opens the mouth"). It
comes from a ``caption`` column of a CSV manifest or from a sidecar JSON file (``data.captions``), an
object mapping each clip's path, as written in the manifest (relative to the data root), to its
caption. FineCLIPER removes explicit emotion words from its generated captions, so that a model
trained on them and evaluated zero-shot on the class texts has not simply read the label;
:func:`strip_words` does that for captions users bring, with a word list they can change.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from peclip.atomic import atomic_write_text
from peclip.data.manifest import ClipItem

#: explicit emotion words removed by default (basic7 + MAFW classes and their common forms)
EMOTION_WORDS = (
    "happy", "happily", "happiness", "joy", "joyful", "joyfully", "glad", "cheerful",
    "sad", "sadly", "sadness", "unhappy", "sorrow", "sorrowful",
    "neutral", "neutrally", "neutrality",
    "angry", "angrily", "anger", "mad", "furious", "furiously", "fury", "rage", "irritated", "annoyed",
    "surprise", "surprised", "surprising", "surprisingly", "astonished", "amazed", "shocked", "shock",
    "disgust", "disgusted", "disgusting", "disgustedly",
    "fear", "fearful", "fearfully", "afraid", "scared", "frightened", "terrified", "fright",
    "contempt", "contemptuous", "contemptuously",
    "anxiety", "anxious", "anxiously", "nervous", "nervously", "worried",
    "helplessness", "helpless", "helplessly",
    "disappointment", "disappointed", "disappointing",
    "emotion", "emotions", "emotional", "expression of",
)


def read_word_list(path: str | os.PathLike) -> list[str]:
    """Words (or phrases) to strip, one a line; blank lines and lines starting with ``#`` are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word list {path} does not exist (one word or phrase a line)")
    words = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    words = [w for w in words if w and not w.startswith("#")]
    if not words:
        raise ValueError(f"word list {path} holds no words")
    return words


def _pattern(words: Sequence[str]) -> re.Pattern:
    if not words or any(not isinstance(w, str) or not w.strip() for w in words):
        raise ValueError(f"the word list must hold non-empty words, got {list(words)!r}")
    # longest first, so that "expression of" wins over "expression"; whole words only, any case
    alternatives = sorted({re.escape(w.strip()).replace(r"\ ", r"\s+") for w in words}, key=len, reverse=True)
    # a comma right after a removed word goes with it ("a fearful, tense face" -> "a tense face")
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b(?:\s*,)?", re.IGNORECASE)


def strip_words(text: str, words: Sequence[str] = EMOTION_WORDS) -> str:
    """``text`` without the whole words (any case) of ``words``; the spaces left behind are tidied."""
    out = _pattern(words).sub("", text)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)  # "a  , b" -> "a, b"
    out = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", out)  # doubled separators left by a removed word
    return re.sub(r"\s{2,}", " ", out).strip(" ,;:")


def read_caption_file(path: str | os.PathLike) -> dict[str, str]:
    """A sidecar caption file: a JSON object ``{clip path relative to the data root: caption}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"caption file {path} (data.captions) does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"caption file {path} is not valid JSON ({err}); it must be an object mapping each "
                         "clip path (as in the manifest) to its caption") from err
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"caption file {path} must be a JSON object mapping clip paths to caption strings")
    return data


def _key(path: str | os.PathLike) -> str:
    return os.path.normpath(os.fspath(path)).replace("\\", "/")


def attach_captions(items: Iterable[ClipItem], captions: dict[str, str] | str | os.PathLike,
                    root: str | os.PathLike) -> list[ClipItem]:
    """``items`` with the captions of a sidecar file (or mapping) whose keys are paths relative to ``root``.

    A caption from the sidecar replaces none that the manifest already gave: a clip with both is an
    error, so that no caption is silently dropped.
    """
    source = str(captions) if not isinstance(captions, dict) else "the caption mapping"
    mapping = read_caption_file(captions) if not isinstance(captions, dict) else captions
    by_path = {_key(Path(root) / key): text for key, text in mapping.items()}
    out = []
    for item in items:
        text = by_path.get(_key(item.path))
        if text is not None and item.caption is not None and text != item.caption:
            raise ValueError(f"{item.source}: the clip has a caption in the manifest and another in {source}; "
                             "keep one of them")
        out.append(dataclasses.replace(item, caption=text) if text is not None else item)
    return out


def check_captions(items: Sequence[ClipItem], where: str) -> None:
    """Every item must have a caption; the error names the first clips without one and how to add them."""
    missing = [i for i in items if not (i.caption and i.caption.strip())]
    if missing:
        listed = "; ".join(i.source or str(i.path) for i in missing[:5])
        raise ValueError(f"caption training needs a caption for every clip, but {len(missing)} of {len(items)} in "
                         f"{where} have none (e.g. {listed}); add a 'caption' column to the CSV manifest or a "
                         "sidecar JSON (data.captions)")


def strip_caption_file(source: str | os.PathLike, destination: str | os.PathLike,
                       words: Sequence[str] = EMOTION_WORDS) -> tuple[int, int]:
    """Write ``source`` (a CSV manifest with a ``caption`` column, or a sidecar JSON) to ``destination``
    with ``words`` stripped from every caption; everything else is copied as it is.

    Returns ``(captions, changed)``. The output is written atomically; ``source`` is never changed.
    """
    source, destination = Path(source), Path(destination)
    if not source.is_file():
        raise FileNotFoundError(f"caption source {source} does not exist")
    if source.resolve() == destination.resolve():
        raise ValueError(f"write the stripped captions to a new file, not over {source}")
    _pattern(words)  # validates the list before reading anything
    if source.suffix.lower() == ".json":
        mapping = read_caption_file(source)
        stripped = {k: strip_words(v, words) for k, v in mapping.items()}
        changed = sum(stripped[k] != v for k, v in mapping.items())
        atomic_write_text(destination, json.dumps(stripped, indent=1, ensure_ascii=False) + "\n")
        return len(mapping), changed
    with open(source, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "caption" not in header:
        raise ValueError(f"{source} has no 'caption' column in its header row; give a CSV manifest with one, or "
                         "a sidecar JSON file")
    column = header.index("caption")
    count = changed = 0
    for row in rows[1:]:
        if len(row) > column and row[column].strip() and not row[0].lstrip().startswith("#"):
            new = strip_words(row[column], words)
            count += 1
            changed += new != row[column]
            row[column] = new
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    atomic_write_text(destination, buffer.getvalue())
    return count, changed
