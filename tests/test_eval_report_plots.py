"""The evaluation report's figures: confusion matrix (counts and row-normalised) and per-class recall."""

import numpy as np
from PIL import Image

from peclip.evaluation.loop import EvalOutput
from peclip.evaluation.report import write_report
from peclip.metrics.classification import classification_result


def test_report_writes_both_confusion_panels_and_the_recall_chart(tmp_path):
    targets = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    preds = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2])
    logits = np.eye(4, dtype=np.float32)[preds]  # class 3 never occurs: its recall is undefined
    output = EvalOutput(np.arange(9), targets, logits, 1.0, classification_result(targets, preds, 4))
    out = write_report(tmp_path / "r", output, ["a", "b", "c", "d"], {"selection": "last"})
    confusion = Image.open(out / "confusion.png")
    recall = Image.open(out / "per_class_recall.png")
    assert confusion.width > 1.8 * confusion.height  # two square panels side by side
    assert recall.width > 300 and recall.height > 300
    assert np.asarray(recall.convert("L")).std() > 10  # something is drawn
    assert (out / "per_class.csv").read_text().splitlines()[4] == "d,,0"
