"""The light models: ShuffViT-DFER's exact size, the common interface, ImageNet weight files, checkpoints."""

import json

import pytest
import torch
import torchvision

import peclip
from peclip.cli import main
from peclip.light import ShuffViTDFER


def _meta(name, **overrides):
    with torch.device("meta"):
        return peclip.create_model(name, **overrides)


def test_shuffvit_dfer_has_the_papers_5_989_861_parameters_per_branch_and_in_total():
    model = _meta("shuffvit-dfer")
    assert model.parameter_report() == {"shufflenet trunk": 1_253_604, "efficientvit trunk": 3_962_106,
                                        "head": 774_151}
    assert sum(p.numel() for p in model.parameters()) == 5_989_861
    assert model._feature_width() == 1024 + 224
    # every parameter trains, in two optimizer groups
    groups = model.param_groups()
    assert sum(p.numel() for g in groups.values() for p in g) == 5_989_861 and set(groups) == {"trunks", "head"}


def test_temporal_variant_adds_only_a_gru_and_the_head_count_follows_the_classes():
    report = _meta("shuffvit-dfer-t").parameter_report()
    assert report["shufflenet trunk"] == 1_253_604 and report["efficientvit trunk"] == 3_962_106
    assert report["temporal GRU"] == 3 * (256 * 256 + 256 * 256 + 2 * 256)  # GRU(256 -> 256)
    six = _meta("shuffvit-dfer", classes=["a", "b", "c", "d", "e", "f"])
    assert six.parameter_report()["head"] == 774_151 - 257  # one class fewer: one row of Linear(256, C)


def test_registry_lists_light_models_and_their_tiny_siblings():
    names = peclip.list_models(include_test=True)
    for name in ("shuffvit-dfer", "shuffvit-dfer-t", "test-shuffvit-dfer", "test-shuffvit-dfer-t"):
        assert name in names


@pytest.mark.parametrize("name, frames", [("test-shuffvit-dfer", 1), ("test-shuffvit-dfer-t", 8)])
def test_tiny_light_models_map_clips_to_logits_and_warn_that_weights_are_random(name, frames):
    torch.manual_seed(0)
    model = peclip.create_model(name).eval()
    assert model.preprocess.num_frames == frames and model.preprocess.size == 32
    video = torch.rand(3, frames, 3, 32, 32)
    logits = model(video)
    assert logits.shape == (3, 7) and torch.isfinite(logits).all()
    assert model.random_weights and model.class_texts is None
    with pytest.raises(ValueError, match=r"\(B, T, 3, 32, 32\)"):
        model(torch.rand(1, frames, 3, 64, 64))


def test_frame_model_averages_per_frame_logits_and_gru_model_depends_on_frame_order():
    torch.manual_seed(0)
    frame = peclip.create_model("test-shuffvit-dfer", num_frames=4).eval()
    video = torch.rand(2, 4, 3, 32, 32)
    per_frame = torch.stack([frame(video[:, t]) for t in range(4)], dim=1)  # (B, T, C)
    torch.testing.assert_close(frame(video), per_frame.mean(dim=1))
    torch.testing.assert_close(frame(video.flip(1)), frame(video))
    temporal = peclip.create_model("test-shuffvit-dfer-t").eval()
    clip = torch.rand(2, 8, 3, 32, 32)
    assert not torch.allclose(temporal(clip), temporal(clip.flip(1)))


def test_checkpoint_keeps_every_parameter_and_batchnorm_statistic(tmp_path):
    torch.manual_seed(0)
    model = peclip.create_model("test-shuffvit-dfer-t", classes=["right", "left"])
    model.train()
    with torch.no_grad():
        for _ in range(3):  # move the BatchNorm running statistics away from their start
            model(torch.rand(4, 8, 3, 32, 32))
    model.eval()
    peclip.save(model, tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["model"]["family"] == "light" and meta["class_names"] == ["right", "left"]
    torch.manual_seed(99)  # a different random init: everything must come from the checkpoint
    loaded = peclip.load(tmp_path / "ckpt").eval()
    assert isinstance(loaded, ShuffViTDFER) and not loaded.random_weights
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    video = torch.rand(2, 8, 3, 32, 32)
    torch.testing.assert_close(loaded(video), model(video), rtol=0, atol=0)


def test_imagenet_weights_load_from_torchvision_and_timm_files_and_mismatches_are_named(tmp_path):
    torch.manual_seed(1)
    donor = peclip.create_model("test-shuffvit-dfer")
    # torchvision's layout: the whole ShuffleNetV2 with its fc; timm's: the EfficientViT with its head
    shuffle = torchvision.models.ShuffleNetV2(stages_repeats=[1, 1, 1], stages_out_channels=[8, 16, 32, 64, 64])
    shuffle.load_state_dict({**donor.shufflenet.state_dict(), **{f"fc.{k}": v for k, v in shuffle.fc.state_dict()
                                                                  .items()}})
    torch.save(shuffle.state_dict(), tmp_path / "shufflenet_v2_x1-test.pth")
    from safetensors.torch import save_file

    timm_state = {**donor.efficientvit.state_dict(), "head.linear.weight": torch.zeros(1000, 32),
                  "head.linear.bias": torch.zeros(1000)}
    save_file({k: v.contiguous() for k, v in timm_state.items()}, str(tmp_path / "model.safetensors"))
    torch.manual_seed(2)
    model = peclip.create_model("test-shuffvit-dfer", pretrained=str(tmp_path))
    for part in ("shufflenet", "efficientvit"):
        for k, v in getattr(donor, part).state_dict().items():
            assert torch.equal(getattr(model, part).state_dict()[k], v), (part, k)
    assert model.pretrained == str(tmp_path) and model.random_weights  # the head is still untrained
    with pytest.raises(ValueError, match="does not fit the shufflenet trunk"):
        peclip.create_model("test-shuffvit-dfer", pretrained=str(tmp_path),
                            **{"encoder.shufflenet_arch.stages_out_channels": [8, 16, 32, 64, 128]})
    with pytest.raises(FileNotFoundError, match="must be a folder"):
        peclip.create_model("test-shuffvit-dfer", pretrained="imagenet")


def test_peclip_info_reports_the_branches(capsys):
    assert main(["info", "shuffvit-dfer", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 5_989_861 and doc["trainable"] == 5_989_861 and doc["frozen"] == 0
