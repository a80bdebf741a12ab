"""The lecture notebooks' trained models (course_lib.kit.lecture_models): what notebook 08 compares."""
import pytest

from course_lib.kit import zoo
from course_lib.kit.lecture_models import (lecture_config, lecture_models, lecture_steps, select, spread, topdis_delay,
                                           zoo_configs)
from course_lib.profiles import get_profile
from course_lib.training import CHECKPOINT, read_config_file

NOTEBOOK_METHODS = {"vae", "beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "dip_vae_i", "dip_vae_ii"}


def test_every_lecture_model_is_in_the_zoo_with_the_same_configuration():
    """At `lecture` notebook 08 installs every model from the zoo: the slug and the whole configuration
    (checkpoint_every included, which `zoo.install` compares) are the zoo entry's."""
    manifest = zoo.read_manifest()
    for model in lecture_models("lecture"):
        slug = model.config.slug()
        assert slug in manifest, f"{model.notebook}: {slug} is not in the pretrained zoo"
        assert read_config_file(zoo.zoo_dir() / slug / zoo.CONFIG_FILE) == model.config, slug


def test_the_lecture_models_are_the_zoo_models_of_notebooks_02_to_06():
    """Nothing the zoo holds for 02-06 is missing (notebook 01's 2-D VAE and notebook 11's TopDis run are
    other notebooks' models), and nothing is listed twice (12 models at 10,000 steps, 11 from 100,000 on, where
    notebook 03 keeps one AnnealedVAE)."""
    slugs = [m.config.slug() for m in lecture_models("lecture")]
    assert len(slugs) == len(set(slugs))
    zoo_slugs = {slug for slug, entry in zoo.read_manifest().items()
                 if entry["method"] in NOTEBOOK_METHODS and "-conv-" in slug}
    assert set(slugs) == zoo_slugs


def test_lecture_models_are_installed_from_the_zoo_not_trained(tmp_path):
    for model in lecture_models("lecture")[:3]:
        directory = tmp_path / model.config.slug()
        assert zoo.install(model.config, directory)
        assert (directory / CHECKPOINT).is_file()


@pytest.mark.parametrize("profile", ["smoke", "lecture", "full"])
def test_the_configurations_follow_the_profile_and_the_seed(profile):
    P = get_profile(profile)
    models = lecture_models(profile, seed=3)
    assert {m.config.steps for m in models} == {P.train_steps}
    assert {m.config.checkpoint_every for m in models} == {max(1, P.train_steps // 4)}
    assert {m.config.seed for m in models} == {3}
    assert [m.notebook for m in models] == sorted(m.notebook for m in models)  # notebook order
    betas = [m.config.hyperparameters.get("beta", 1) for m in models if m.notebook == "02_beta_vae"]
    assert betas == spread((1, 2, 4, 6, 8, 16), P.num_sweep_values) and betas[0] == 1 and betas[-1] == 16
    annealed = {m.config.hyperparameters["gamma"] for m in models if m.config.method == "annealed_vae"}
    assert annealed == ({1000.0} if P.train_steps >= 100_000 else {30.0, 1000.0})
    assert all(isinstance(g, float) for g in annealed)  # the slug says gamma30.0, as notebook 03 writes it
    dip_ii = [m.config for m in models if m.config.method == "dip_vae_ii"]
    dip_i = [m.config.hyperparameters["lambda_od"] for m in models if m.config.method == "dip_vae_i"]
    assert len(dip_ii) == 1 and dip_ii[0].hyperparameters["lambda_od"] == max(dip_i) == 50


def test_labels_name_method_and_hyperparameters():
    labels = [m.label for m in lecture_models("lecture")]
    assert labels[:3] == ["vae", "beta_vae beta=4", "beta_vae beta=16"]
    assert "annealed_vae c_max=10 gamma=1000" in labels  # annealing_steps is left out, as in run_label


def test_select_spreads_over_the_list_and_checks_its_limit():
    models = lecture_models("smoke")
    assert select(models, None) == models and select(models, 100) == models
    chosen = select(models, 4)
    assert len(chosen) == 4 and chosen[0] == models[0] and chosen[-1] == models[-1]
    assert len({m.notebook for m in chosen}) == 4  # spread over the notebooks, not the first four models
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="limit="):
            select(models, bad)


def test_spread_matches_the_notebooks_picks():
    assert spread((1, 2, 4, 6, 8, 16), 3) == [1, 4, 16]
    assert spread((1, 2, 5, 10, 20, 50), 2) == [1, 50]
    assert spread((1, 2, 5, 10, 20, 50), 6) == [1, 2, 5, 10, 20, 50]


def test_zoo_configs_are_exactly_the_shipped_zoo():
    """The zoo serves the notebooks at its age: `zoo_configs` at that age lists every entry, whole configurations
    included (notebook 01's 2-D VAE and notebook 11's TopDis run too), and nothing else."""
    manifest = zoo.read_manifest()
    steps = lecture_steps("lecture")
    configs = zoo_configs(steps, seed=0)
    assert {c.slug() for c in configs} == set(manifest) and len(configs) == len(manifest)
    for config in configs:
        assert read_config_file(zoo.zoo_dir() / config.slug() / zoo.CONFIG_FILE) == config


def _fake_zoo(root, configs):
    """A manifest that lists `configs` (no weights: lecture_steps reads only the manifest)."""
    zoo.write_manifest(root, [{"slug": c.slug(), "seed": c.seed, "steps": c.steps, "method": c.method, "files": {}}
                              for c in configs])


def test_lecture_steps_is_the_oldest_age_the_zoo_serves_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PRETRAINED_DIR", str(tmp_path))
    lecture = get_profile("lecture")
    old, grown = zoo_configs(lecture.train_steps), zoo_configs(100_000)
    _fake_zoo(tmp_path, old + grown)
    assert lecture_steps("lecture") == 100_000
    config = lecture_config("beta_vae", {"beta": 4}, "lecture")
    assert (config.steps, config.checkpoint_every) == (100_000, 25_000) and config.slug() in {c.slug() for c in grown}
    assert {m.config.steps for m in lecture_models("lecture")} == {100_000}
    annealed = {m.config.hyperparameters["gamma"] for m in lecture_models("lecture")
                if m.config.method == "annealed_vae"}
    assert annealed == {1000.0}  # long runs take the study's gamma
    assert lecture_steps("lecture", seed=1) == lecture.train_steps  # the zoo holds seed 0 only
    assert lecture_steps("smoke") == get_profile("smoke").train_steps  # smoke trains its tiny models
    assert lecture_steps("full") == 100_000  # full computes at the papers' sizes on the grown zoo's models
    _fake_zoo(tmp_path, old)
    assert lecture_steps("lecture") == lecture.train_steps  # a lecture-sized zoo serves the lecture ...
    assert lecture_steps("full") == get_profile("full").train_steps  # ... but is too young for `full`
    _fake_zoo(tmp_path, old + grown)
    monkeypatch.setenv("COURSE_PRETRAINED", "0")
    assert lecture_steps("lecture") == lecture.train_steps  # without the zoo: the profile's own sizes
    assert lecture_steps("full") == get_profile("full").train_steps
    monkeypatch.delenv("COURSE_PRETRAINED")
    _fake_zoo(tmp_path, old + grown[:-1])  # one grown model missing: the notebooks keep the complete age
    assert lecture_steps("lecture") == lecture.train_steps
    (tmp_path / zoo.MANIFEST).write_text("{}")  # a damaged manifest: train at the lecture's sizes
    assert lecture_steps("lecture") == lecture.train_steps


def test_zoo_configs_scale_their_step_dependent_settings():
    configs = {c.method + ("-mlp" if c.architecture == "mlp" else ""): c for c in zoo_configs(300_000, seed=2)}
    assert configs["topdis"].hyperparameters["delay"] == 298_000 and configs["vae-mlp"].num_latent == 2
    assert [topdis_delay(s) for s in (20, 2000, 4000, 100_000)] == [10, 1000, 2000, 98_000]  # the last half, <= 2,000
    assert configs["annealed_vae"].hyperparameters["annealing_steps"] == 225_000
    assert {c.seed for c in configs.values()} == {2} and {c.checkpoint_every for c in configs.values()} == {75_000}
    with pytest.raises(ValueError, match="steps=0"):
        zoo_configs(0)
