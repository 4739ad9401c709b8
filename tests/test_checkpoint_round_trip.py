"""save -> load gives identical logits; a wrong or damaged checkpoint fails with a clear message."""

import json

import pytest
import torch

import peclip
from model_helpers import activate_tda, random_video, tiny_model


def _trained_looking(**overrides):
    model = tiny_model(**overrides)
    activate_tda(model)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model.eval()


def test_save_then_load_gives_identical_logits(tmp_path):
    # The frozen CLIP comes from its weights file (recorded in the checkpoint), the rest from the checkpoint.
    clip_weights = tmp_path / "clip.pt"
    torch.save(tiny_model("test-clip-vit-b16", seed=5).clip.state_dict(), clip_weights)
    model = _trained_looking(**{"temporal.per_video": False, "adapters.reduction": 4})
    model = peclip.create_model(model.config, pretrained=str(clip_weights))
    activate_tda(model)
    model.eval()
    peclip.save(model, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "trainable.safetensors"]
    loaded = peclip.load(tmp_path / "ckpt").eval()
    video = random_video(2, 4)
    with torch.no_grad():
        assert torch.equal(model(video), loaded(video))
    assert loaded.config == model.config


def test_loading_onto_other_clip_weights_changes_only_the_frozen_part(tmp_path):
    model = _trained_looking()
    peclip.save(model, tmp_path)
    loaded = peclip.load(tmp_path, pretrained="none")
    for (name, p), (_, q) in zip(model.named_trainable_parameters(), loaded.named_trainable_parameters(), strict=True):
        assert torch.equal(p, q), name


def test_checkpoint_holds_only_the_trainable_weights(tmp_path):
    from safetensors.torch import load_file

    model = _trained_looking()
    peclip.save(model, tmp_path)
    stored = load_file(str(tmp_path / "trainable.safetensors"))
    assert set(stored) == {n for n, _ in model.named_trainable_parameters()}


def test_a_config_that_does_not_match_the_tensors_names_the_differing_keys_and_shapes(tmp_path):
    peclip.save(_trained_looking(), tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["model"]["adapters"]["reduction"] = 4
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"other shapes .*down_proj.weight: \(8, 64\) in the file, \(16, 64\)"):
        peclip.load(tmp_path)


def test_missing_and_unexpected_tensors_are_listed(tmp_path):
    peclip.save(_trained_looking(), tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["model"]["temporal"]["enabled"] = False
    meta["model"]["adapters"]["text_mlp"] = True
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"unexpected \(\d+\): clip\.visual\.transformer\.resblocks\.0\.ls_2"):
        peclip.load(tmp_path)


def test_a_corrupted_weights_file_is_reported_as_damaged(tmp_path):
    peclip.save(_trained_looking(), tmp_path)
    (tmp_path / "trainable.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="damaged"):
        peclip.load(tmp_path)


def test_a_folder_without_config_is_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"neither a checkpoint \(no config.json\) nor a run folder"):
        peclip.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        peclip.load(tmp_path)


def test_loading_an_unknown_config_key_lists_the_valid_keys(tmp_path):
    peclip.save(_trained_looking(), tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["model"]["temporal"]["gru_layers"] = 2
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"unknown model.temporal keys: gru_layers; valid keys: .*per_video"):
        peclip.load(tmp_path)
