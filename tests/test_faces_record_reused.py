"""How prepare cropped the faces travels to the training run and back to predict with a checkpoint."""

import json
from types import SimpleNamespace

import pytest

from peclip.faces.options import FACES_RECORD, FaceOptions
from peclip.predict.models import recorded_face_options
from peclip.predict.runner import resolve_face_options
from peclip.train.run import RunFolder


def test_a_checkpoint_crops_as_its_training_data_was_cropped_unless_told_otherwise(tmp_path):
    data = tmp_path / "faces"
    data.mkdir()
    (data / "manifest.csv").write_text("path,label\n")
    (data / FACES_RECORD).write_text(json.dumps({"detector": "haar", "align": False, "size": 224, "margin": 0.3,
                                                 "detect_size": 240, "min_face": 0.05}))
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.record_faces(data / "manifest.csv")  # what training does when it starts a run
    checkpoint = run.path / "checkpoints" / "best"
    checkpoint.mkdir(parents=True)
    recorded = recorded_face_options(str(checkpoint))
    assert (recorded.detector, recorded.align, recorded.margin) == ("haar", False, 0.3)
    model = SimpleNamespace(checkpoint=str(checkpoint))
    assert resolve_face_options(model).align is False  # as the training data
    told = resolve_face_options(model, face_settings={"align": True, "detector": "haar"})
    assert told.align is True and told.margin == 0.3  # a flag wins, the rest stays as recorded
    assert recorded_face_options(None) is None
    assert resolve_face_options(SimpleNamespace(checkpoint=None), FaceOptions(detector="haar")).detector == "haar"


def test_an_unreadable_record_names_the_file(tmp_path):
    (tmp_path / FACES_RECORD).write_text("{not json")
    with pytest.raises(ValueError, match=r"faces\.json is not a readable face record"):
        recorded_face_options(str(tmp_path))
