"""Configs reject bad values with messages that name the value and the valid choices."""

import pytest

import peclip
from peclip.config import ModelConfig, merge_overrides
from peclip.factory import resolve_config


@pytest.mark.parametrize("overrides, message", [
    ({"temporal.rnn": "transformer"}, r"temporal.rnn='transformer' is not valid; choose one of: gru, lstm, rnn"),
    ({"prompts.length": 0}, r"prompts.length=0 must be a positive integer"),
    ({"label_set": "dfew"}, r"model.label_set='dfew' is not valid; choose one of: basic7, mafw11"),
    ({"text_kind": "poems"}, r"model.text_kind='poems' is not valid"),
    ({"class_texts": ["a.", "b."]}, r"2 texts for 7 classes"),
    ({"text_templates": ["no slot"]}, r"each template needs one '\{\}'"),
    ({"adapter": {}}, r"unknown model keys: adapter; valid keys: adapters"),
])
def test_bad_config_values_are_rejected_with_a_helpful_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve_config("test-peclip-vit-b16", **overrides)


def test_unknown_model_names_list_the_built_in_models():
    with pytest.raises(ValueError, match=r"unknown model 'vit-b16'; built-in models: .*peclip-vit-b16"):
        peclip.create_model("vit-b16")


def test_the_registry_lists_every_paper_model_with_a_tiny_sibling():
    names = peclip.list_models()
    for name in ("peclip-vit-b16", "peclip-vit-b32", "peclip-vit-l14"):
        assert name in names and f"test-{name}" in peclip.list_models(include_test=True)
    assert not any(n.startswith("test-") for n in names)


def test_config_round_trips_through_a_dict():
    config = resolve_config("peclip-vit-b16", **{"temporal.per_video": False})
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert config.temporal.per_video is False and config.prompts.depth == 9


def test_dotted_and_nested_overrides_merge_the_same_way():
    base = {"temporal": {"rnn": "gru", "per_video": True}}
    assert merge_overrides(base, {"temporal.per_video": False}) == merge_overrides(
        base, {"temporal": {"per_video": False}}) == {"temporal": {"rnn": "gru", "per_video": False}}
