"""Zero-shot models: class texts by kind, prompt-ensembling templates, clear errors."""

import pytest
import torch

from peclip.labels import BASIC7, MAFW11
from peclip.predict import TEMPLATE_SETS, resolve_templates, zero_shot_model


@pytest.mark.parametrize("kind", ["au", "dfer_clip", "names", "names_context"])
def test_zero_shot_model_uses_the_chosen_text_kind(kind):
    model = zero_shot_model("test-clip-vit-b16", texts=kind)
    assert model.class_texts == BASIC7.texts(kind)
    assert model.class_names == list(BASIC7.classes)
    assert not model.training


def test_ensemble_templates_are_averaged_by_the_model():
    single = zero_shot_model("test-clip-vit-b16", texts="names")
    torch.manual_seed(0)
    model = zero_shot_model("test-clip-vit-b16", texts="names", templates="ensemble")
    assert model.config.text_templates == TEMPLATE_SETS["ensemble"]
    assert model.class_tokens.shape[0] == len(TEMPLATE_SETS["ensemble"]) * 7
    with torch.no_grad():
        assert model.encode_classes().shape == single.encode_classes().shape == (7, 32)


def test_a_label_set_can_be_chosen():
    assert zero_shot_model("test-clip-vit-b16", label_set="mafw11").class_names == list(MAFW11.classes)


def test_templates_resolve_from_names_single_templates_and_lists():
    assert resolve_templates(None) == ["{}"]
    assert resolve_templates("ensemble") == TEMPLATE_SETS["ensemble"]
    assert resolve_templates("a face showing {}") == ["a face showing {}"]
    with pytest.raises(ValueError, match="template set"):
        resolve_templates("fancy")
    with pytest.raises(ValueError, match="'{}'"):
        resolve_templates(["a face", "{}"])


def test_unknown_text_kind_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="au, dfer_clip"):
        zero_shot_model("test-clip-vit-b16", texts="poems")


def test_untrained_peclip_model_warns_that_it_needs_fine_tuning(caplog):
    with caplog.at_level("WARNING", logger="peclip"):
        zero_shot_model("test-peclip-vit-b16")
    assert "fine-tuned" in caplog.text and "clip-vit-b16" in caplog.text
