"""Trainable-parameter counts match docs/spec.md section 6 exactly (models built on the meta device)."""

import pytest
import torch

import peclip


def counts(name="peclip-vit-b16", **overrides):
    with torch.device("meta"):
        model = peclip.create_model(name, **overrides)
    groups = {k: sum(p.numel() for p in v) for k, v in model.param_groups().items()}
    frozen = sum(p.numel() for p in model.parameters()) - sum(groups.values())
    return groups, frozen


def test_vit_b16_has_the_papers_9_4m_trainable_over_a_frozen_clip():
    groups, frozen = counts()
    assert groups == {"adapters": 5_844_492, "prompts": 3_555_072}
    assert sum(groups.values()) == 9_399_564
    assert frozen == 149_620_737


@pytest.mark.parametrize("overrides, expected", [
    ({"temporal.enabled": False}, 6_921_600),
    ({"adapters.shared": False}, 6_826_380),
    ({"adapters.text_mlp": False}, 8_606_220),
    ({"prompts.enabled": False}, 5_844_492),
    ({"adapters.shared": False, "adapters.text_mlp": False, "temporal.enabled": False}, 3_555_072),
    ({"temporal.rnn": "lstm"}, 9_623_052),
    ({"temporal.rnn": "rnn"}, 8_952_588),
    ({"adapters.reduction": 16, "temporal.reduction": 16}, 6_340_620),
    ({"adapters.reduction": 2, "temporal.reduction": 2}, 34_720_524),
    ({"prompts.length": 1}, 9_394_956),
    ({"prompts.length": 8}, 9_427_212),
    ({"prompts.depth": 1}, 6_239_500),
    ({"prompts.depth": 12}, 10_584_588),
])
def test_ablation_configurations_cost_what_spec_6_2_computes(overrides, expected):
    groups, _ = counts(**overrides)
    assert sum(groups.values()) == expected


def test_widths_come_from_the_backbone_for_every_named_model():
    for name in peclip.list_models(family="peclip"):  # PE-CLIP's adapters and prompts (light models: test_light_model)
        with torch.device("meta"):
            model = peclip.create_model(name)
        for adapter in model.adapters():
            assert adapter.down_proj.in_features in (model.sizes.vision_width, model.sizes.text_width)
        if model.prompts is not None:
            assert model.prompts.coupling[0].out_features == model.sizes.vision_width


def test_prompt_depth_beyond_the_backbone_is_rejected_with_the_valid_range():
    with pytest.raises(ValueError, match=r"prompts.depth=13 exceeds .* 1..12"):
        counts(**{"prompts.depth": 13})
