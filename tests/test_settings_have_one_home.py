"""One home per setting: frames per clip and frame size are the model's, runtime options travel with
checkpoints and run folders, and ``--set`` means the same thing in every command."""

import json

import pytest
import torch

import peclip
from model_helpers import random_video, tiny_model
from peclip.cli import main
from peclip.config import RuntimeOptions
from peclip.data.config import DataConfig
from peclip.overrides import parse_overrides
from peclip.train.config import load_recipe

TINY = ["--recipe", "synthetic", "--set", "synthetic.num_train=8", "--set", "synthetic.num_test=4",
        "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=1", "--set", "train.batch_size=4",
        "--set", "train.progress=false"]


def test_data_takes_frames_and_size_from_the_model():
    model = tiny_model(num_frames=6)
    cfg = DataConfig().for_model(model.preprocess)
    assert (cfg.num_frames, cfg.image_size) == (6, 32)


def test_a_data_frame_count_other_than_the_models_is_refused_naming_both():
    model = tiny_model()  # 16 frames per clip, 32 px
    with pytest.raises(ValueError, match=r"data.num_frames=8 but the model takes 16 frames per clip \(model.num_fr"):
        DataConfig(num_frames=8).for_model(model.preprocess)
    with pytest.raises(ValueError, match=r"data.image_size=224 but the model takes 32 px frames"):
        DataConfig(image_size=224).for_model(model.preprocess)


def test_training_with_a_mismatched_frame_count_stops_before_training(tmp_path, capsys):
    # the synthetic recipe's model takes 8 frames; the data asks for 4
    code = main(["train", *TINY, "--set", "data.num_frames=4", "--output-dir", str(tmp_path), "--name", "bad"])
    err = capsys.readouterr().err
    assert code == 2
    assert "data.num_frames=4 but the model takes 8 frames per clip" in err
    assert not (tmp_path / "bad").exists()  # refused before the run folder was made


def test_runtime_options_are_saved_with_the_checkpoint_and_restored(tmp_path):
    model = tiny_model()
    model.runtime = RuntimeOptions(cls_only_last_block=False, cache_class_texts=False, trim_text_padding=False,
                                   grad_checkpointing=True)
    peclip.save(model, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["runtime"]["grad_checkpointing"] is True
    loaded = peclip.load(tmp_path / "ckpt")
    assert loaded.runtime == model.runtime
    assert (loaded.cls_only_last_block, loaded.cache_class_texts) == (False, False)
    changed = peclip.load(tmp_path / "ckpt", runtime={"cache_class_texts": True})
    assert changed.runtime == RuntimeOptions(False, True, False, True)


def test_the_runtime_shorthands_write_the_one_runtime_object():
    model = tiny_model()
    model.grad_checkpointing = True
    model.trim_text_padding = False
    assert model.runtime == RuntimeOptions(trim_text_padding=False, grad_checkpointing=True)
    with pytest.raises(ValueError, match="runtime.cache_class_texts='yes' must be true or false"):
        RuntimeOptions(cache_class_texts="yes")


def test_runtime_options_do_not_change_the_logits():
    model = tiny_model().eval()
    video = random_video(2, 16)
    with torch.no_grad():
        fast = model(video)
        model.runtime = RuntimeOptions.reference()
        reference = model(video)
    assert torch.allclose(fast, reference, atol=1e-5)


def test_a_run_folder_records_its_runtime_options_and_its_checkpoints_carry_them(tmp_path):
    assert main(["train", *TINY, "--set", "runtime.grad_checkpointing=true", "--output-dir", str(tmp_path),
                 "--name", "rt"]) == 0
    run = tmp_path / "rt"
    assert load_recipe(run / "config.yaml").model.runtime.grad_checkpointing is True
    assert peclip.load(run).runtime.grad_checkpointing is True


def test_old_recipes_with_train_grad_checkpointing_still_load():
    recipe = load_recipe("synthetic", {"train.grad_checkpointing": True})
    assert recipe.model.runtime.grad_checkpointing is True


def test_set_keys_mean_the_same_in_every_command():
    for command, sections in (("info", ("model",)), ("predict", ("model", "runtime")),
                              ("eval", ("model", "runtime", "data"))):
        parsed = parse_overrides(["model.temporal.per_video=false", "temporal.reduction=4"], command, sections)
        assert parsed.model == {"temporal.per_video": False, "temporal.reduction": 4}
    train = parse_overrides(["model.temporal.per_video=false", "runtime.grad_checkpointing=true",
                             "train.lr_adapters=1e-4", "model.name=peclip-vit-b32"], "train",
                            ("model", "runtime", "data", "train", "run", "synthetic")).recipe_overrides()
    assert train == {"model.overrides.temporal.per_video": False, "model.runtime.grad_checkpointing": True,
                     "train.lr_adapters": 1e-4, "model.name": "peclip-vit-b32"}
    with pytest.raises(ValueError, match="peclip predict takes model.\\*, runtime.\\* settings only"):
        parse_overrides(["data.num_workers=0"], "predict", ("model", "runtime"))
    with pytest.raises(ValueError, match="unknown setting"):
        parse_overrides(["colour=red"], "info", ("model",))
    with pytest.raises(ValueError, match="must look like KEY=VALUE"):
        parse_overrides(["temporal.per_video"], "info", ("model",))
