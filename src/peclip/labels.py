"""Label sets and their class texts, as data.

A label set fixes the class order (label index -> class) and carries one text per class for every
text kind. PE-CLIP's text encoder reads ``"X X " + text`` per class (docs/spec.md 2.6, 2.7).

Text kinds:

- ``au``: PE-CLIP's Action-Unit descriptions (``class_descriptor_7`` of the official code). For the
  four extra MAFW classes PE-CLIP has no text; the ones here are **ours**, written in the same style
  (docs/spec.md 10 A14) and marked in :data:`OUR_TEXTS`.
- ``dfer_clip``: DFER-CLIP's LLM descriptions (``class_descriptor_7/11``).
- ``names``: the class name followed by a full stop (``class_names_7/11``).
- ``names_context``: ``"an expression of <name>."`` (``class_names_with_context_7``).
- ``pn``: FineCLIPER's positive descriptor ``"A person with an expression of <name>"``; with this kind
  the model also builds the negative one, ``"A person with an expression of no <name>"``, and a
  second bank of text adapters (``ModelConfig.pn``; docs/text-supervision.md).
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT_KINDS = ("au", "dfer_clip", "names", "names_context", "pn")

#: FineCLIPER's positive and negative (PN) class descriptors (arXiv 2407.02157; "no" beat "less")
PN_POSITIVE = "A person with an expression of {}"
PN_NEGATIVE = "A person with an expression of no {}"

_BASIC7 = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")
_MAFW_EXTRA = ("contempt", "anxiety", "helplessness", "disappointment")

_AU_TEXTS = {
    "happiness": "Cheek Raiser, Lip Corner Puller.",
    "sadness": "Inner Brow Raiser, Brow Lowerer, Lip Corner Depressor.",
    "neutral": "Relaxed Muscles, Even Eyebrows, Closed Lips, Calm Eyes, Smooth Forehead.",
    "anger": "Brow Lowerer, Upper Lid Raiser, Lid Tightener, Lip Tightener.",
    "surprise": "Inner Brow Raiser, Outer Brow Raiser, Upper Lid Raiser, Jaw Drop.",
    "disgust": "Nose Wrinkler, Lip Corner Depressor, Lower Lip Depressor.",
    "fear": "Inner Brow Raiser, Outer Brow Raiser, Brow Lowerer, Upper Lid Raiser, Lid Tightener, "
    "Lip Stretcher, Jaw Drop.",
    # Ours (not in the paper): AU-name texts for MAFW's extra classes, same style as above.
    "contempt": "Unilateral Lip Corner Puller, Dimpler.",  # AU12 (one side) + AU14
    "anxiety": "Inner Brow Raiser, Brow Lowerer, Lip Stretcher, Lip Pressor.",  # AU1+4+20+24
    "helplessness": "Inner Brow Raiser, Lid Droop, Lip Corner Depressor, Head Down.",  # AU1+41+15+54
    "disappointment": "Brow Lowerer, Lip Corner Depressor, Chin Raiser, Lip Pressor.",  # AU4+15+17+24
}

#: (class, kind) pairs whose text was written for peclip rather than taken from a paper.
OUR_TEXTS = frozenset(("au", c) for c in _MAFW_EXTRA)

_DFER_CLIP_TEXTS = {
    "happiness": "a smiling mouth, raised cheeks, wrinkled eyes, and arched eyebrows.",
    "sadness": "tears, a downward turned mouth, drooping upper eyelids, and a wrinkled forehead.",
    "neutral": "relaxed facial muscles, a straight mouth, a smooth forehead, and unremarkable eyebrows.",
    "anger": "furrowed eyebrows, narrow eyes, tightened lips, and flared nostrils.",
    "surprise": "widened eyes, an open mouth, raised eyebrows, and a frozen expression.",
    "disgust": "a wrinkled nose, lowered eyebrows, a tightened mouth, and narrow eyes.",
    "fear": "raised eyebrows, parted lips, a furrowed brow, and a retracted chin.",
    "contempt": "one side of its mouth raised, one eyebrow lower and one raised, narrowed eyes, "
    "and a raised chin.",
    "anxiety": "a tensed forehead, tightly pressed lips, pupil dilation, and tensed facial muscles.",
    "helplessness": "drooping eyebrows, a downward gaze, a downturned mouth, and lacking expression.",
    "disappointment": "a downturned mouth, lowered eyebrows, narrowed eyes, and a sighing face.",
}


def _text(class_name: str, kind: str) -> str:
    if kind == "au":
        return _AU_TEXTS[class_name]
    if kind == "dfer_clip":
        return _DFER_CLIP_TEXTS[class_name]
    if kind == "names":
        return f"{class_name}."
    if kind == "names_context":
        return f"an expression of {class_name}."
    if kind == "pn":
        return PN_POSITIVE.format(class_name)
    raise ValueError(f"unknown text kind {kind!r}; valid kinds: {', '.join(TEXT_KINDS)}")


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of classes: label ``i`` is ``classes[i]``."""

    name: str
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)

    def texts(self, kind: str = "au") -> list[str]:
        """One class text per class, in label order."""
        return [_text(c, kind) for c in self.classes]

    def index(self, class_name: str) -> int:
        try:
            return self.classes.index(class_name)
        except ValueError:
            raise ValueError(
                f"class {class_name!r} is not in label set {self.name!r}; its classes: {', '.join(self.classes)}"
            ) from None


#: DFEW / FERV39K order (and AFEW after remapping, docs/spec.md 10 A5).
BASIC7 = LabelSet("basic7", _BASIC7)
#: MAFW's 11 classes, DFER-CLIP order.
MAFW11 = LabelSet("mafw11", _BASIC7 + _MAFW_EXTRA)
#: the seven basic classes and contempt (AffectNet-8, FERPlus; still-image sets, docs/stills.md).
BASIC8 = LabelSet("basic8", _BASIC7 + ("contempt",))

#: KMU-FED's six classes (no neutral), in basic7's order.
BASIC6 = LabelSet("basic6", tuple(c for c in _BASIC7 if c != "neutral"))

LABEL_SETS = {s.name: s for s in (BASIC7, MAFW11, BASIC8, BASIC6)}


def get_label_set(name: str) -> LabelSet:
    """The label set called ``name`` (``basic7``, ``mafw11``, ``basic8`` or ``basic6``)."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; valid: {', '.join(LABEL_SETS)}") from None


#: C-EXPR-DB compound expressions as pairs of basic classes (sum rule).
COMPOUND_EXPRESSIONS = {
    "fearfully_surprised": ("fear", "surprise"),
    "happily_surprised": ("happiness", "surprise"),
    "sadly_surprised": ("sadness", "surprise"),
    "disgustedly_surprised": ("disgust", "surprise"),
    "angrily_surprised": ("anger", "surprise"),
    "sadly_fearful": ("sadness", "fear"),
    "sadly_angry": ("sadness", "anger"),
}
