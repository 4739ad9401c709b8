"""How prepare cropped the faces travels to the training run and back to predict with a checkpoint."""

import json
from types import SimpleNamespace

import pytest

from media_helpers import needs_media_and_retinaface
from peclip.faces.options import FACES_RECORD, FaceOptions
from peclip.predict.face_record import recorded_face_options, resolve_face_options
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


@needs_media_and_retinaface
def test_peclip_predict_with_a_checkpoint_crops_as_its_training_data_and_a_flag_wins(tmp_path):
    import peclip
    from media_helpers import MEDIA
    from model_helpers import tiny_model
    from peclip.cli import main

    run = tmp_path / "run"
    checkpoint = peclip.save(tiny_model(seed=3), run / "checkpoints" / "best")
    (run / FACES_RECORD).write_text(json.dumps({"detector": "haar", "align": False, "size": 224, "margin": 0.3,
                                                "detect_size": 240, "min_face": 0.05}))
    video, still = MEDIA / "single_face.mp4", MEDIA / "0-f1-su-ph.jpg"

    def predict(out: str, *flags: str) -> tuple[dict, dict]:
        assert main(["predict", str(video), str(still), "--checkpoint", str(checkpoint), "-o", str(tmp_path / out),
                     *flags]) == 0
        return (json.loads((tmp_path / out / "single_face.json").read_text()),
                json.loads((tmp_path / out / "0-f1-su-ph.json").read_text()))

    recorded, recorded_photo = predict("recorded")
    for doc in (recorded, recorded_photo):
        faces = doc["settings"]["faces"]
        assert (faces["detector"], faces["align"], faces["margin"]) == ("haar", False, 0.3)
    # the crops really are those: the API told the same settings explicitly gives the same numbers
    api = peclip.predict_video(peclip.load(checkpoint), video,
                               face_options=FaceOptions(detector="haar", align=False, margin=0.3))
    assert recorded["timeline"] == api.timeline and any(row["face"] for row in api.timeline)

    told, told_photo = predict("told", "--detector", "retinaface", "--align")
    for doc in (told, told_photo):
        faces = doc["settings"]["faces"]
        assert (faces["detector"], faces["align"], faces["margin"]) == ("retinaface", True, 0.3)  # margin as recorded
    assert told["timeline"] != recorded["timeline"]  # other crops, other numbers


class _Seen(Exception):
    """Raised by a stand-in face source to end the run once it was built."""


def test_live_and_explain_crop_as_the_checkpoints_training_data_too(tmp_path, monkeypatch):
    import torch

    import peclip.evaluation.explain_video as explain_module
    import peclip.predict.live.session as live_module
    from peclip.evaluation.explain_video import explain_video
    from peclip.predict.live.session import LiveSession

    seen = []

    def source(*args, face_options=None, **kwargs):
        seen.append(face_options)
        raise _Seen

    (tmp_path / FACES_RECORD).write_text(json.dumps({"detector": "haar", "align": False, "margin": 0.3}))
    model = SimpleNamespace(checkpoint=str(tmp_path), preprocess=SimpleNamespace(size=224, num_frames=8),
                            class_names=["a", "b"], random_weights=False, eval=lambda: model,
                            parameters=lambda: iter([torch.zeros(1)]))
    monkeypatch.setattr(explain_module, "FaceFrameSource", source)
    monkeypatch.setattr(explain_module, "resolve_class", lambda model, name: None)
    monkeypatch.setattr(explain_module, "require_explainable", lambda model: None)  # a stand-in, not a PEClip
    with pytest.raises(_Seen):
        explain_video(model, tmp_path / "clip.mp4")
    monkeypatch.setattr(live_module, "LiveFaceSource", source)
    monkeypatch.setattr(live_module, "LiveFeed", lambda capture: None)
    session = LiveSession.__new__(LiveSession)  # no capture device: only run()'s choice of face settings is tested
    session.model, session.options, session.server = model, live_module.LiveOptions(), None
    session.detector, session.face_options = None, None
    session.capture = None
    with pytest.raises(_Seen):
        session.run()
    assert [(o.detector, o.align, o.margin) for o in seen] == [("haar", False, 0.3)] * 2
