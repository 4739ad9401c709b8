"""``hf-hub:ORG/NAME`` checkpoints: offline from a cache laid out as huggingface_hub lays it out,
sha256 checked against the model card; ``peclip push`` through a fake HfApi. Never the network."""

import hashlib
import json
import shutil
import socket
from pathlib import Path

import huggingface_hub
import pytest
import torch
import yaml

import peclip
from peclip import hub
from peclip.cli import main
from peclip.layout import resolve_checkpoint
from peclip.train import card
from peclip.train.checkpoints import write_checkpoint
from peclip.train.config import dump_recipe, load_recipe
from peclip.train.run import RunFolder

REPO = "peclip-test/tiny-synthetic"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def run_dir(tmp_path):
    """A finished run folder of the synthetic recipe (its checkpoint a tiny random-CLIP model)."""
    recipe = load_recipe("synthetic", {"train.epochs": 2, "train.selection": "test"})
    run = RunFolder(tmp_path / "runs" / "synthetic-1")
    run.create(dump_recipe(recipe))
    torch.manual_seed(7)
    model = peclip.create_model(recipe.model.name, **recipe.model.overrides)
    write_checkpoint(run.best, model, {"epoch": 1, "selection": "test", "init_seed": 7})
    run.write_results({"recipe": "synthetic", "dataset": "custom", "fold": None, "selection": "test",
                       "select_metric": "war", "selected": {"epoch": 1, "uar": 97.5, "war": 97.66, "num_samples": 128},
                       "last": {"epoch": 1, "uar": 97.5, "war": 97.66, "num_samples": 128}, "epochs": 2})
    return run.path


def lay_out_cache(cache: Path, files: dict[str, bytes], repo: str = REPO, commit: str = COMMIT) -> Path:
    """``models--ORG--NAME/{refs/main, snapshots/<commit>/...}`` as huggingface_hub writes it."""
    base = cache / f"models--{repo.replace('/', '--')}"
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _files(run_dir) -> dict[str, bytes]:
    folder = resolve_checkpoint(run_dir)
    text = card.model_card(run_dir, REPO)
    return {"README.md": text.encode(), **{n: p.read_bytes() for n, p in card.checkpoint_files(folder).items()}}


def test_card_says_what_how_and_with_what(run_dir, tmp_path):
    text = card.model_card(run_dir, REPO)
    assert f'peclip.load("hf-hub:{REPO}")' in text
    assert "recipe: `synthetic`" in text and "data: `custom`, fold None" in text
    assert "UAR 97.50, WAR 97.66 (selection: best epoch on the test set (official protocol; optimistic), epoch 1)" \
        in text
    assert f"peclip {peclip.__version__}, git commit `" in text and "git commit `unknown`" not in text
    assert "a random ViT-B-16 built from seed 7" in text
    for name in ("config.json", "trainable.safetensors"):
        digest = hub.sha256(resolve_checkpoint(run_dir) / name)
        assert f"| {name} | {digest} |" in text
    # CLIP weights from a local file: named with their sha256
    clip_file = tmp_path / "ViT-B-16.pt"
    clip_file.write_bytes(b"not really weights")
    meta_path = resolve_checkpoint(run_dir) / "config.json"
    meta = json.loads(meta_path.read_text())
    meta["pretrained"] = str(clip_file)
    meta_path.write_text(json.dumps(meta))
    assert f"local file `ViT-B-16.pt`, sha256 `{hub.sha256(clip_file)}`" in card.model_card(run_dir, REPO)


def test_load_from_the_offline_cache_gives_the_same_model(run_dir, offline_cache):
    lay_out_cache(offline_cache, _files(run_dir))
    model = peclip.load(f"hf-hub:{REPO}").eval()
    local = peclip.load(run_dir).eval()
    video = torch.rand(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(video), local(video))
    # --checkpoint hf-hub:... (predict, eval) goes through the same resolution, also with a revision
    assert resolve_checkpoint(f"hf-hub:{REPO}@{COMMIT}").name == COMMIT


def test_a_file_whose_sha256_differs_from_the_card_is_refused(run_dir, offline_cache):
    snapshot = lay_out_cache(offline_cache, _files(run_dir))
    weights = snapshot / "trainable.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="trainable.safetensors has sha256 [0-9a-f]{64} but its model card records"):
        peclip.load(f"hf-hub:{REPO}")


def test_unverifiable_or_uncached_models_are_refused_with_a_reason(run_dir, offline_cache, capsys):
    files = _files(run_dir)
    lay_out_cache(offline_cache, {k: v for k, v in files.items() if k != "README.md"})
    with pytest.raises(ValueError, match="cannot be verified"):
        peclip.load(f"hf-hub:{REPO}")
    assert main(["eval", "hf-hub:someone/not-cached", "--data", "dfew"]) == 2
    err = capsys.readouterr().err
    assert "not in the local hub cache" in err and "HF_HUB_OFFLINE is set" in err
    with pytest.raises(ValueError, match="write hf-hub:ORG/NAME"):
        peclip.load("hf-hub:no-slash")


def test_a_sidecar_sha256sums_also_verifies(run_dir, offline_cache):
    files = _files(run_dir)
    sums = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in files.items() if k != "README.md")
    lay_out_cache(offline_cache, {**{k: v for k, v in files.items() if k != "README.md"}, "SHA256SUMS": sums.encode()})
    assert peclip.load(f"hf-hub:{REPO}").config.num_classes == 2


class FakeHfApi:
    """The three HfApi methods push uses, backed by a dict; ``corrupt`` damages what is read back."""

    def __init__(self, corrupt: str | None = None):
        self.repos, self.files, self.corrupt = [], {}, corrupt

    def create_repo(self, repo_id, exist_ok=False, private=False):
        self.repos.append((repo_id, exist_ok, private))

    def create_commit(self, repo_id, operations, commit_message):
        for op in operations:
            src = op.path_or_fileobj
            self.files[op.path_in_repo] = src if isinstance(src, bytes) else Path(src).read_bytes()
        return huggingface_hub.CommitInfo(commit_url=f"https://hf.co/{repo_id}/commit/{COMMIT}",
                                          commit_message=commit_message, commit_description="", oid=COMMIT)

    def hf_hub_download(self, repo_id, filename, revision=None, cache_dir=None, force_download=False):
        assert revision == COMMIT and force_download
        data = self.files[filename] + (b"x" if filename == self.corrupt else b"")
        path = Path(cache_dir) / filename
        path.write_bytes(data)
        return str(path)


def test_push_uploads_checkpoint_and_card_and_verifies(run_dir, offline_cache, monkeypatch, capsys):
    api = FakeHfApi()
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: api)
    assert main(["push", str(run_dir), REPO]) == 0
    assert f"commit {COMMIT}" in capsys.readouterr().out
    assert api.repos == [(REPO, True, False)]
    assert sorted(api.files) == ["README.md", "config.json", "trainable.safetensors"]
    assert b"selection: best epoch on the test set" in api.files["README.md"]
    # what was pushed loads back by name, verified
    lay_out_cache(offline_cache, api.files)
    video = torch.rand(1, 8, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(peclip.load(f"hf-hub:{REPO}").eval()(video), peclip.load(run_dir).eval()(video))


def test_push_notices_a_damaged_upload(run_dir):
    with pytest.raises(RuntimeError, match="trainable.safetensors read back after the upload has sha256"):
        card.push(run_dir, REPO, api=FakeHfApi(corrupt="trainable.safetensors"))


def test_a_converted_checkpoint_carries_its_clip_to_the_hub(tmp_path, offline_cache):
    from test_convert_official import TINY, official_checkpoint

    official_checkpoint(tmp_path / "official.pth")
    folder = peclip.official.official_to_peclip(tmp_path / "official.pth", tmp_path / "conv", model=TINY,
                                                with_backbone=True)
    api = FakeHfApi()
    card.push(folder, REPO, api=api)
    assert "clip.safetensors" in api.files and b"travel with the weights" in api.files["README.md"]
    assert yaml.safe_load(api.files["README.md"].decode().split("---")[1])["library_name"] == "peclip"
    lay_out_cache(offline_cache, api.files)
    shutil.rmtree(folder)  # nothing local left: the CLIP comes from the hub copy
    assert peclip.load(f"hf-hub:{REPO}").pretrained.endswith("clip.safetensors")
