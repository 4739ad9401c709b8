"""Recipes: built-ins load and validate, dotted overrides, unknown keys name the valid ones, round trip."""

import pytest
import yaml

from peclip.train.config import builtin_recipes, dump_recipe, load_recipe


def test_builtin_recipes_load_with_the_papers_settings():
    assert {"dfew", "ferv39k", "mafw", "afew", "synthetic", "dfew-official"} <= set(builtin_recipes())
    dfew = load_recipe("dfew")
    t = dfew.train
    assert (t.epochs, t.batch_size, t.lr_adapters, t.lr_prompts, t.weight_decay, t.seed) == \
        (30, 4, 2e-4, 3e-5, 0.01, 42)
    assert (t.schedule.name, t.schedule.t_initial, t.schedule.warmup_epochs, t.schedule.warmup_lr_init) == \
        ("cosine", 30, 3, 2e-5)
    assert dfew.data.dataset == "dfew" and t.selection == "last"
    assert dfew.data.num_frames is None and dfew.model.resolve().num_frames == 16  # the model's, in one place
    afew = load_recipe("afew")
    assert (afew.train.epochs, afew.train.batch_size, afew.train.lr_adapters, afew.train.lr_prompts) == \
        (25, 8, 1e-4, 3e-4)
    assert (afew.train.schedule.name, afew.train.schedule.step_size, afew.train.schedule.gamma) == ("step", 8, 0.5)
    assert afew.data.remap_labels
    mafw = load_recipe("mafw")
    assert mafw.model.resolve().num_classes == 11 and mafw.data.label_set == "mafw11"
    official = load_recipe("dfew-official")
    assert official.train.epochs == 5 and official.train.selection == "test"
    assert official.model.resolve().temporal.per_video is False


def test_dotted_overrides_are_applied_and_exponents_read_as_numbers():
    recipe = load_recipe("dfew", {"train.lr_adapters": "1e-4", "train.schedule.t_initial": 10,
                                  "model.overrides.temporal.per_video": False, "data.fold": 3})
    assert recipe.train.lr_adapters == 1e-4
    assert recipe.train.schedule.t_initial == 10
    assert recipe.model.resolve().temporal.per_video is False
    assert recipe.data.fold == 3


@pytest.mark.parametrize("key, valid", [
    ("train.lr_adapter", "lr_adapters"),
    ("data.fps", "num_frames"),
    ("train.schedule.warmup", "warmup_epochs"),
    ("model.overrides.temporal.gru", "per_video"),
    ("trian.epochs", "train"),
])
def test_unknown_keys_are_rejected_with_the_valid_ones(key, valid):
    with pytest.raises(ValueError, match="unknown") as err:
        load_recipe("dfew", {key: 1})
    assert valid in str(err.value)


def test_bad_values_name_the_field():
    with pytest.raises(ValueError, match="train.selection='best'.*last, val, test"):
        load_recipe("dfew", {"train.selection": "best"})
    with pytest.raises(ValueError, match="not divisible by train.grad_accum"):
        load_recipe("dfew", {"train.grad_accum": 3})
    with pytest.raises(ValueError, match="data.fold=7"):
        load_recipe("dfew", {"data.fold": 7})


def test_recipe_file_with_base_and_resolved_round_trip(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: dfew\ntrain:\n  epochs: 5\n  lr_prompts: 1e-5\ndata:\n  fold: 2\n")
    recipe = load_recipe(path)
    assert recipe.name == "mine" and recipe.train.epochs == 5 and recipe.train.lr_prompts == 1e-5
    assert recipe.train.lr_adapters == 2e-4 and recipe.data.fold == 2  # inherited
    resolved = tmp_path / "config.yaml"
    resolved.write_text(dump_recipe(recipe))
    assert yaml.safe_load(resolved.read_text())["train"]["epochs"] == 5
    assert load_recipe(resolved).to_dict() == recipe.to_dict()


def test_unknown_recipe_lists_the_builtins(tmp_path):
    with pytest.raises(ValueError, match="dfew"):
        load_recipe("dfw")
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "missing.yaml")
