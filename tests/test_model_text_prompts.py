"""Class texts: "X X " placeholders at positions 1..n, EOT pooled at the right index, eval-mode caching."""

import open_clip
import pytest
import torch

from model_helpers import tiny_model
from peclip import backbone
from peclip.labels import BASIC7


def test_placeholders_sit_at_positions_1_to_n_and_eot_follows_the_description():
    model = tiny_model()
    encode = open_clip.tokenizer._tokenizer.encode
    x_id = encode("X")[0]
    eot_id = encode("")[0] if encode("") else None  # the empty string has no tokens
    assert eot_id is None
    for row, text in zip(model.class_tokens, BASIC7.texts("au"), strict=True):
        assert row[1].item() == x_id and row[2].item() == x_id
        description = encode(text)
        eot = row.argmax().item()
        assert eot == 1 + 2 + len(description)  # [SOS] X X description [EOT]
        assert row[3:eot].tolist() == description


def test_pooled_text_feature_is_read_at_the_eot_token():
    model = tiny_model().eval()
    tokens = model.class_tokens.clone()
    eot = tokens.argmax(-1)
    text_prompts = model.prompt_tokens()[0]
    with torch.no_grad():
        base = backbone.encode_texts(model.clip, tokens, text_prompts)
        # Padding after EOT cannot change the feature (causal mask) ...
        padded = tokens.clone()
        padded[0, eot[0] + 1] = 500
        assert torch.allclose(backbone.encode_texts(model.clip, padded, text_prompts)[0], base[0], atol=1e-6)
        # ... while the last description token before EOT does.
        changed = tokens.clone()
        changed[0, eot[0] - 1] = 500
        assert not torch.allclose(backbone.encode_texts(model.clip, changed, text_prompts)[0], base[0], atol=1e-4)


def test_deep_prompts_replace_rather_than_append_text_tokens():
    model = tiny_model().eval()
    text_prompts = model.prompt_tokens()[0]
    with torch.no_grad():
        base = backbone.encode_texts(model.clip, model.class_tokens, text_prompts)
        # Changing what the placeholder tokens embed to has no effect: the prompts overwrite them.
        tokens = model.class_tokens.clone()
        tokens[:, 1:3] = 320
        assert torch.allclose(backbone.encode_texts(model.clip, tokens, text_prompts), base, atol=1e-6)


def test_class_text_features_are_computed_once_in_eval_and_refreshed_after_a_weight_change(monkeypatch):
    model = tiny_model().eval()
    calls = []
    real = backbone.encode_texts
    monkeypatch.setattr(backbone, "encode_texts", lambda *a, **k: calls.append(1) or real(*a, **k))
    video = torch.rand(1, 2, 3, 32, 32)
    with torch.no_grad():
        first = model(video)
        model(video)
        assert len(calls) == 1
        model.prompts.ctx.add_(0.5)  # an optimizer step changes a trainable weight in place
        second = model(video)
    assert len(calls) == 2 and not torch.allclose(first, second)
    model.train()
    model(video)
    model(video)
    assert len(calls) == 4  # training always recomputes


def test_prompt_ensembling_averages_normalised_template_features():
    model = tiny_model("test-clip-vit-b16", text_templates=["a face with {}", "{}"]).eval()
    single = [tiny_model("test-clip-vit-b16", text_templates=[t]).eval() for t in ["a face with {}", "{}"]]
    with torch.no_grad():
        mean = torch.nn.functional.normalize(sum(m.encode_classes() for m in single), dim=-1)
        assert torch.allclose(model.encode_classes(), mean, atol=1e-5)


def test_a_class_text_longer_than_the_context_is_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match="shorten it"):
        model.set_class_texts(["word " * 100, "short."], ["a", "b"])


def test_custom_classes_and_texts_set_the_number_of_outputs():
    model = tiny_model(classes=["calm", "tense", "joyful"], class_texts=["Relaxed.", "Tight lips.", "Smile."])
    assert model.class_names == ["calm", "tense", "joyful"]
    assert model(torch.rand(2, 2, 3, 32, 32)).shape == (2, 3)
