"""Loading never runs code and never passes damaged numbers on; random-weight models survive save/load;
bad output locations fail before any work (issue 11, items 6-9)."""

import json
from pathlib import Path

import pytest
import torch

import peclip
from peclip import backbone
from peclip.cli import main
from peclip.config import BackboneConfig
from peclip.predict import predict_video, zero_shot_model
from peclip.registry import get_model_config

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SINGLE = DATA / "single_face.mp4"
ARCH = get_model_config("test-clip-vit-b16")["backbone"]["arch"]
media = pytest.mark.skipif(not SINGLE.is_file(), reason="real media in ../shared/data is absent")


class _Marker(torch.nn.Module):
    """A TorchScript module whose own code runs when torch.jit.load restores it."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))

    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        print("CODE RAN AT LOAD")
        self.w = state[0]
        self.training = state[1]

    def forward(self, x):
        return x


def test_a_torchscript_archive_is_read_without_running_its_code(tmp_path, capfd):
    path = tmp_path / "marker.pt"
    with pytest.warns(FutureWarning):
        torch.jit.save(torch.jit.script(_Marker()), str(path))
    with pytest.warns(FutureWarning):
        torch.jit.load(str(path))  # what main did: the archive's code runs
    assert "CODE RAN AT LOAD" in capfd.readouterr().out
    with pytest.raises(ValueError, match=r"restores itself with its own code .* torch.save\(m.state_dict\(\)"):
        peclip.create_model("test-clip-vit-b16", pretrained=str(path))
    assert "CODE RAN AT LOAD" not in capfd.readouterr().out
    # a plain scripted CLIP (how OpenAI ships its weights) still loads, tensor for tensor
    torch.manual_seed(3)
    clip = backbone.build_clip(BackboneConfig(arch=ARCH))
    with pytest.warns(FutureWarning):
        torch.jit.save(torch.jit.script(clip), str(tmp_path / "clip.pt"))
    model = peclip.create_model("test-clip-vit-b16", pretrained=str(tmp_path / "clip.pt"))
    for key, value in clip.state_dict().items():
        assert torch.equal(model.clip.state_dict()[key], value), key


def test_a_junk_weights_file_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "weights.pt"
    junk.write_text("this is not a tensor file " * 50)
    with pytest.raises(ValueError, match=r"^not a checkpoint: .*weights\.pt"):
        peclip.create_model("test-clip-vit-b16", pretrained=str(junk))


def _corrupt_first_tensor(checkpoint: Path) -> str:
    path = checkpoint / "trainable.safetensors"
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    name, info = next((k, v) for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    start = 8 + size + info["data_offsets"][0]
    data[start:start + 16] = b"\xff\xff\xff\x7f" * 4  # four NaNs, as damaged bytes can be
    path.write_bytes(bytes(data))
    return name


def test_nan_bytes_in_a_checkpoint_are_an_error_naming_the_tensor(tmp_path):
    torch.manual_seed(0)
    peclip.save(peclip.create_model("test-peclip-vit-b16"), tmp_path / "ckpt")
    name = _corrupt_first_tensor(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=rf"NaN or inf values in 1 tensor\(s\): {name} \(4 of"):
        peclip.load(tmp_path / "ckpt")


@media
def test_non_finite_scores_are_an_error_naming_the_window(tmp_path):
    torch.manual_seed(0)
    model = zero_shot_model("test-clip-vit-b16")
    with torch.no_grad():
        model.clip.visual.proj.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"NaN or inf scores for the window 0\.00-2\.00 s"):
        predict_video(model, SINGLE, detect_faces=False)


def test_a_random_weight_model_survives_save_and_load_exactly(tmp_path):
    model = peclip.create_model("test-peclip-vit-b16").eval()  # no seed set by the caller
    assert model.clip_seed is not None
    peclip.save(model, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["clip_seed"] == model.clip_seed
    loaded = peclip.load(tmp_path / "ckpt").eval()
    video = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(video), loaded(video))
    torch.manual_seed(5)
    first = peclip.create_model("test-peclip-vit-b16")
    torch.manual_seed(5)
    assert first.clip_seed == peclip.create_model("test-peclip-vit-b16").clip_seed  # manual_seed still rules


def test_saving_a_random_clip_that_no_seed_describes_is_refused(tmp_path):
    model = peclip.PEClip(peclip.create_model("test-peclip-vit-b16").config)  # built around a fresh random CLIP
    with pytest.raises(ValueError, match="no seed describes"):
        peclip.save(model, tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


@media
def test_predict_refuses_an_output_that_is_a_file_before_any_work(tmp_path, capsys, monkeypatch):
    import peclip.predict.models as models

    def no_model(request):
        raise AssertionError("the model was built before the output was checked")

    monkeypatch.setattr(models, "build_model", no_model)
    (tmp_path / "taken").write_text("")
    code = main(["predict", str(SINGLE), "--model", "test-clip-vit-b16", "-o", str(tmp_path / "taken")])
    assert code == 2
    assert f"--output {tmp_path / 'taken'} is a file, not a folder" in capsys.readouterr().err


@media
def test_prepare_refuses_an_out_that_is_a_file_with_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert main(["prepare", str(SINGLE), "--out", str(tmp_path / "taken"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file, not a folder" in err and "Traceback" not in err
