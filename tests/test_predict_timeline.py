"""Timeline records, the whole-video summary, compound scores and the CSV/JSON/PNG writers."""

import csv
import io
import json

import numpy as np
import pytest

from peclip.labels import BASIC7, COMPOUND_EXPRESSIONS
from peclip.predict import PredictionResult, compound_names, compound_scores

CLASSES = list(BASIC7.classes)


def _probs(top: str, p: float = 0.7) -> np.ndarray:
    row = np.full(len(CLASSES), (1 - p) / (len(CLASSES) - 1))
    row[CLASSES.index(top)] = p
    return row


def _result(compound: bool = False) -> PredictionResult:
    # four 2 s windows every 1 s over 5 s; the third has no face
    starts = np.array([0.0, 1.0, 2.0, 3.0])
    ends = np.array([2.0, 3.0, 4.0, 5.0])
    face = np.array([True, True, False, True])
    probs = np.stack([_probs("sadness"), _probs("happiness"), np.full(7, np.nan), _probs("happiness")])
    comp = compound_scores(probs, CLASSES) if compound else None
    return PredictionResult(
        source="clip.mp4", class_names=CLASSES, starts=starts, ends=ends, face=face, tracks=[0, 0, None, 0],
        frames=np.array([48, 48, 48, 48]), face_frames=np.array([48, 40, 3, 48]), probabilities=probs,
        duration=5.0, fps=24.0, num_video_frames=120, compound_names=compound_names() if compound else [],
        compound=comp, elapsed=2.0)


def test_records_carry_every_class_and_no_probability_where_there_is_no_face():
    records = _result().timeline
    assert [r["top"] for r in records] == ["sadness", "happiness", None, "happiness"]
    assert records[2]["face"] is False
    assert all(records[2][f"p_{c}"] is None for c in CLASSES)
    assert records[2]["top_probability"] is None and records[2]["track"] is None
    for r in (records[0], records[1], records[3]):
        assert sum(r[f"p_{c}"] for c in CLASSES) == pytest.approx(1.0)
    assert records[1]["top_probability"] == pytest.approx(0.7)


def test_summary_shares_are_shares_of_face_time_split_at_window_midpoints():
    summary = _result().summary
    # window centres 1, 2, 3, 4 -> own spans [0,1.5] [1.5,2.5] [2.5,3.5] [3.5,5]; window 2 has no face
    assert summary["face_seconds"] == pytest.approx(1.5 + 1.0 + 1.5)
    assert summary["dominant"] == "happiness"
    assert summary["dominant_share"] == pytest.approx(2.5 / 4.0)
    assert summary["class_shares"]["sadness"] == pytest.approx(1.5 / 4.0)
    assert (summary["windows"], summary["face_windows"]) == (4, 3)
    [track] = summary["tracks"]
    assert (track["track"], track["dominant"], track["start"], track["end"]) == (0, "happiness", 0.0, 5.0)


def test_summary_of_a_video_without_a_face_names_no_emotion():
    result = _result()
    result.face[:] = False
    result.probabilities[:] = np.nan
    summary = result.summary
    assert summary["dominant"] is None and summary["face_windows"] == 0 and summary["tracks"] == []
    assert not result.has_face


def test_compound_scores_are_the_sum_of_their_two_basic_probabilities():
    probs = np.random.default_rng(0).dirichlet(np.ones(7), size=5)  # (5, 7)
    scores = compound_scores(probs, CLASSES)
    assert scores.shape == (5, 7) and compound_names() == list(COMPOUND_EXPRESSIONS)
    for k, (a, b) in enumerate(COMPOUND_EXPRESSIONS.values()):
        np.testing.assert_allclose(scores[:, k], probs[:, CLASSES.index(a)] + probs[:, CLASSES.index(b)])
    assert COMPOUND_EXPRESSIONS["happily_surprised"] == ("happiness", "surprise")


def test_compound_scores_need_the_basic_classes():
    with pytest.raises(ValueError, match="lack"):
        compound_scores(np.full((1, 2), 0.5), ["right", "left"])


def test_csv_and_json_carry_the_same_rows_with_empty_cells_and_nulls_where_there_is_no_face(tmp_path):
    result = _result(compound=True)
    csv_path = result.to_csv(tmp_path / "t.csv")
    json_path = result.to_json(tmp_path / "t.json")
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    doc = json.loads(json_path.read_text())
    assert len(rows) == len(doc["timeline"]) == 4
    assert rows[2]["p_happiness"] == "" and rows[2]["face"] == "False"
    assert doc["timeline"][2]["p_happiness"] is None
    for row, record in zip(rows, doc["timeline"], strict=True):
        for c in CLASSES:
            if record[f"p_{c}"] is not None:
                assert float(row[f"p_{c}"]) == record[f"p_{c}"]  # full precision in both
    assert doc["timeline"][0]["compound_sadly_fearful"] == pytest.approx(0.7 + 0.05)
    assert doc["summary"]["dominant"] == "happiness" and doc["classes"] == CLASSES
    assert doc["processing"]["video_seconds_per_second"] == pytest.approx(2.5)


def test_dataframe_has_nan_where_there_is_no_face():
    pd = pytest.importorskip("pandas")
    frame = _result().to_dataframe()
    assert len(frame) == 4 and pd.isna(frame.loc[2, "p_happiness"]) and frame.loc[1, "top"] == "happiness"


def test_save_writes_csv_json_and_a_png_plot(tmp_path):
    written = _result().save(tmp_path, stem="clip")
    assert sorted(written) == ["csv", "json", "png"]
    assert written["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(written["png"]) as image:
        assert image.size[0] > 400 and image.size[1] > 200
