"""``peclip convert``: checkpoints of the official PE-CLIP script -> peclip folders -> back, bit-exact.

The official layout is written here from the names the issue lists (not from peclip's mapping), and
the expected model gets those tensors by module attribute, so the mapping is checked, not restated.
"""

import os
import pickle
from pathlib import Path

import open_clip
import pytest
import torch
from safetensors.torch import save_file

import peclip
from peclip import official
from peclip.cli import main
from peclip.perf import configure_reference, math_attention, reference_model

TINY = "test-peclip-vit-b16"  # widths 64/64, 3 + 3 layers, prompt depth 2


def official_shapes(text_layers, vision_layers, text_width, vision_width, depth, n_ctx=2, r=8):
    """Official name (without 'module.') -> shape, from the issue's list."""
    dt, dv, ht, hv = text_width, vision_width, text_width // r, vision_width // r
    shapes = {"prompt_learner.ctx": (n_ctx, dt), "prompt_learner.proj.weight": (dv, dt),
              "prompt_learner.proj.bias": (dv,)}
    for k in range(depth - 1):
        shapes[f"prompt_learner.compound_prompts_text.{k}"] = (n_ctx, dt)
        shapes[f"prompt_learner.compound_prompt_projections.{k}.weight"] = (dv, dt)
        shapes[f"prompt_learner.compound_prompt_projections.{k}.bias"] = (dv,)

    def bottleneck(prefix, d, h):
        return {f"{prefix}.down_proj.weight": (h, d), f"{prefix}.down_proj.bias": (h,),
                f"{prefix}.up_proj.weight": (d, h), f"{prefix}.up_proj.bias": (d,)}

    for i in range(text_layers):
        block = f"clip_model.transformer.resblocks.{i}"
        shapes |= bottleneck(f"{block}.adapter_pre_attn", dt, ht) | bottleneck(f"{block}.adapter_pre_mlp", dt, ht)
    for i in range(vision_layers):
        block = f"clip_model.visual.transformer.resblocks.{i}"
        tda = f"{block}.adapter_pre_mlp"
        shapes |= bottleneck(f"{block}.adapter_pre_attn", dv, hv) | bottleneck(tda, dv, hv)
        shapes |= {f"{tda}.adapter_layer_norm_before.weight": (dv,), f"{tda}.adapter_layer_norm_before.bias": (dv,),
                   f"{tda}.scale.weight": (1, dv), f"{tda}.scale.bias": (1,),
                   f"{tda}.rnn.weight_ih_l0": (3 * hv, hv), f"{tda}.rnn.weight_hh_l0": (3 * hv, hv),
                   f"{tda}.rnn.bias_ih_l0": (3 * hv,), f"{tda}.rnn.bias_hh_l0": (3 * hv,)}
    return shapes


def tiny_clip_state(seed=3):
    """A tiny open_clip CLIP's weights as the official loader keeps them: fp16 values."""
    cfg = peclip.registry.get_model_config(TINY)["backbone"]["arch"]
    torch.manual_seed(seed)
    clip = open_clip.model.CLIP(**cfg, quick_gelu=True)
    return {k: v.half() for k, v in clip.state_dict().items()}


def class_buffers(clip_state, n_ctx=2):
    texts = peclip.create_model(TINY).class_texts
    tokens = open_clip.tokenize([" ".join(["X"] * n_ctx) + " " + t for t in texts])  # (C, 77)
    embedded = clip_state["token_embedding.weight"][tokens].float()  # (C, 77, D)
    return {"prompt_learner.token_prefix": embedded[:, :1].clone(),
            "prompt_learner.token_suffix": embedded[:, 1 + n_ctx:].clone()}


def official_checkpoint(path, seed=0, with_clip=True):
    """An official-layout checkpoint: DataParallel keys, aliases sharing tensors, fp16 CLIP, fp32 trainable."""
    gen = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(s, generator=gen) * 0.1 for k, s in official_shapes(3, 3, 64, 64, depth=2).items()}
    if with_clip:
        clip = tiny_clip_state()
        state |= {f"clip_model.{k}": v for k, v in clip.items()} | class_buffers(clip)
    for key in list(state):
        if key.startswith("clip_model.visual."):
            state["image_encoder." + key[len("clip_model.visual."):]] = state[key]
        elif key.startswith(("clip_model.transformer.", "clip_model.ln_final.", "clip_model.positional_embedding",
                             "clip_model.text_projection")):
            state["text_encoder." + key[len("clip_model."):]] = state[key]
    data = {"epoch": 4, "state_dict": {"module." + k: v for k, v in state.items()}, "best_acc": torch.tensor(71.5),
            "optimizer": {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]},
            "scheduler": {"t_initial": 30, "warmup_lr_init": 2e-5}}
    torch.save(data, path)
    return data


def expected_model(data):
    """peclip's faithful mode given the official tensors by module attribute (the issue's description)."""
    s = {k.removeprefix("module."): v for k, v in data["state_dict"].items()}
    model = peclip.create_model(TINY, **{"temporal.per_video": False})
    model.clip.load_state_dict({k[len("clip_model."):]: v for k, v in s.items()
                                if k.startswith("clip_model.") and "adapter" not in k}, strict=False)
    with torch.no_grad():
        p = model.prompts
        p.ctx.copy_(s["prompt_learner.ctx"])
        p.coupling[0].weight.copy_(s["prompt_learner.proj.weight"])
        p.coupling[0].bias.copy_(s["prompt_learner.proj.bias"])
        for k in range(len(p.deep_text)):
            p.deep_text[k].copy_(s[f"prompt_learner.compound_prompts_text.{k}"])
            p.coupling[k + 1].weight.copy_(s[f"prompt_learner.compound_prompt_projections.{k}.weight"])
            p.coupling[k + 1].bias.copy_(s[f"prompt_learner.compound_prompt_projections.{k}.bias"])
        towers = [("clip_model.transformer", model.clip.transformer), ("clip_model.visual.transformer",
                                                                      model.clip.visual.transformer)]
        for prefix, tower in towers:
            for i, block in enumerate(tower.resblocks):
                for module in (block.ls_1.adapter, block.ls_2.adapter):
                    seam = "adapter_pre_attn" if module is block.ls_1.adapter else "adapter_pre_mlp"
                    for name, param in module.named_parameters():
                        official_name = name.replace("layer_norm.", "adapter_layer_norm_before.")
                        param.copy_(s[f"{prefix}.resblocks.{i}.{seam}.{official_name}"])
    return model


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("official") / "PE-CLIP_BestModel.pth"
    return path, official_checkpoint(path)


def test_official_names_are_exactly_peclips_trainable_tensors_of_vit_b16():
    with torch.device("meta"):
        model = peclip.create_model("peclip-vit-b16")
    own = dict(model.named_trainable_parameters())
    mapped = {official.to_official_name(k): tuple(p.shape) for k, p in own.items()}
    assert mapped == official_shapes(12, 12, 512, 768, depth=9)
    assert len(mapped) == 315 and sum(p.numel() for p in own.values()) == 9_399_564
    assert all(official.to_peclip_name(off) == k for k, off in ((k, official.to_official_name(k)) for k in own))


def test_converted_checkpoint_gives_the_faithful_logits(tmp_path, official_file, capsys):
    path, data = official_file
    out = tmp_path / "converted"
    assert main(["convert", str(path), "-o", str(out), "--model", TINY, "--with-backbone"]) == 0
    assert "faithful mode" in capsys.readouterr().out
    meta = peclip.checkpoint.read_config(out)
    assert meta["model"]["temporal"]["per_video"] is False and meta["pretrained"] == "clip.safetensors"
    assert meta["converted_from"]["epoch"] == 4 and meta["converted_from"]["best_acc"] == pytest.approx(71.5)
    # the same mode on both sides (the official code's way of running), so only the weights can differ
    model = configure_reference(peclip.load(out).eval())  # the CLIP comes from the folder
    ref = reference_model(expected_model(data)).eval()
    video = torch.rand(4, 4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), math_attention():
        got, want = model(video), ref(video)
    assert (got - want).abs().max() < 1e-5
    # the TDA and prompts matter here: a per-video GRU gives other logits for the later clips of the batch
    with torch.no_grad():
        per_video = peclip.load(out, **{"temporal.per_video": True}).eval()(video)
    assert (per_video[1:] - want[1:]).abs().max() > 1e-4


def test_converted_without_backbone_uses_the_users_clip_file(tmp_path, official_file):
    path, data = official_file
    clip_file = tmp_path / "tiny-clip.safetensors"
    save_file(tiny_clip_state(), str(clip_file))
    out = tmp_path / "converted"
    assert main(["convert", str(path), "-o", str(out), "--model", TINY, "--pretrained", str(clip_file)]) == 0
    assert not (out / official.BACKBONE_FILE).exists()
    model = peclip.load(out).eval()
    video = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (model(video) - expected_model(data).eval()(video)).abs().max() < 1e-5


def test_back_to_official_is_bit_exact(tmp_path, official_file):
    path, data = official_file
    assert main(["convert", str(path), "-o", str(tmp_path / "peclip"), "--model", TINY, "--with-backbone"]) == 0
    back = tmp_path / "back.pth"
    assert main(["convert", str(tmp_path / "peclip"), "--to", "official", "-o", str(back)]) == 0
    again = torch.load(back, weights_only=True)
    original, written = data["state_dict"], again["state_dict"]
    assert sorted(written) == sorted(original)
    for key, value in original.items():
        assert written[key].dtype == value.dtype and torch.equal(written[key], value), key
    assert again["epoch"] == 4 and again["best_acc"] == pytest.approx(71.5)
    # and that file converts again to the same peclip weights
    assert main(["convert", str(back), "-o", str(tmp_path / "again"), "--model", TINY, "--with-backbone"]) == 0
    first = (tmp_path / "peclip" / "trainable.safetensors").read_bytes()
    assert (tmp_path / "again" / "trainable.safetensors").read_bytes() == first


def test_aliases_that_disagree_are_refused(tmp_path):
    path = tmp_path / "bad.pth"
    data = official_checkpoint(path)
    key = "module.image_encoder.transformer.resblocks.1.adapter_pre_attn.up_proj.bias"
    data["state_dict"][key] = data["state_dict"][key].clone() + 1
    torch.save(data, path)
    with pytest.raises(ValueError, match="its alias .*clip_model.visual.transformer.resblocks.1.adapter_pre_attn"):
        official.read_official(path)


def test_truncated_foreign_and_wrong_model_files_get_clear_messages(tmp_path, official_file, capsys):
    path, _ = official_file
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    assert main(["convert", str(truncated), "-o", str(tmp_path / "x"), "--model", TINY]) == 2
    assert "truncated or damaged" in capsys.readouterr().err
    foreign = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(3)}, "epoch": 1}, foreign)
    assert main(["convert", str(foreign), "-o", str(tmp_path / "x"), "--model", TINY]) == 2
    assert "no 'module.prompt_learner.ctx'" in capsys.readouterr().err
    bare = tmp_path / "bare.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, bare)
    assert main(["convert", str(bare), "-o", str(tmp_path / "x"), "--model", TINY]) == 2
    assert "expected a dict with 'state_dict'" in capsys.readouterr().err
    # weights of another shape than the model's: the strict load names the tensors
    assert main(["convert", str(path), "-o", str(tmp_path / "x"), "--model", TINY, "--pretrained", "none",
                 "--set", "adapters.reduction=4"]) == 2
    err = capsys.readouterr().err
    assert "does not match the model" in err and "down_proj.weight: (8, 64) in the file, (16, 64)" in err
    # a checkpoint of 7 classes given an 11-class model
    assert main(["convert", str(path), "-o", str(tmp_path / "x"), "--model", TINY, "--set", "label_set=mafw11"]) == 2
    assert "trained for 7 classes" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "epoch": _RunsCode(marker)}, evil)
    assert main(["convert", str(evil), "-o", str(tmp_path / "x"), "--model", TINY]) == 2
    err = capsys.readouterr().err
    assert "refused to load" in err and "weights_only=True" in err and "pathlib" in err
    assert not marker.exists()
    pickle.loads(pickle.dumps(_RunsCode(marker)))  # the same object, unpickled without that guard, does run
    assert marker.exists()
