"""CLIP weights load from local files the way users have them: state dicts, safetensors, OpenAI JIT."""

import pytest
import torch
from safetensors.torch import save_file

import peclip
from peclip import backbone
from peclip.config import BackboneConfig
from peclip.registry import get_model_config

ARCH = get_model_config("test-clip-vit-b16")["backbone"]["arch"]


def _source_clip(seed=7):
    torch.manual_seed(seed)
    return backbone.build_clip(BackboneConfig(arch=ARCH))


def _assert_same_weights(model, source):
    own = model.clip.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(own[key], value), key


@pytest.mark.parametrize("fmt", ["plain", "wrapped", "safetensors", "jit"])
def test_weights_load_from_every_local_format(tmp_path, fmt):
    source = _source_clip()
    state = source.state_dict()
    path = tmp_path / "clip.pt"
    if fmt == "plain":
        torch.save(state, path)
    elif fmt == "wrapped":  # open_clip training checkpoints: {"state_dict": {"module." + key: ...}}
        torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    elif fmt == "safetensors":
        path = tmp_path / "clip.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:  # OpenAI's releases are TorchScript archives
        with pytest.warns(FutureWarning):
            torch.jit.save(torch.jit.script(source), str(path))
    model = peclip.create_model("test-peclip-vit-b16", pretrained=str(path))
    _assert_same_weights(model, source)
    assert model.pretrained == str(path)


def test_weights_of_another_architecture_are_refused_with_the_mismatch(tmp_path):
    torch.save(_source_clip().state_dict(), tmp_path / "small.pt")
    with pytest.raises(ValueError, match=r"do not fit this backbone: .*ViT-B-16 vs ViT-B-32"):
        peclip.create_model("test-peclip-vit-b32", pretrained=str(tmp_path / "small.pt"))


def test_a_missing_weights_file_says_what_to_give():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        peclip.create_model("test-peclip-vit-b16", pretrained="weights/none-here.pt")


def test_an_unknown_tag_lists_the_known_ones_without_touching_the_network():
    with pytest.raises(ValueError, match=r"known tags: .*openai"):
        peclip.create_model("clip-vit-b16", pretrained="not-a-tag")
