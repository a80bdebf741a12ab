"""The zoo's compared models over seeds (course_lib.kit.seeds): the configurations, the scored table, its shipping."""
import pandas as pd
import pytest

from course_lib.kit import seeds as seeds_module
from course_lib.kit.lecture_models import zoo_configs
from course_lib.kit.seeds import SEED_METHODS, export_seed_results, seed_configs, seed_results, shipped_seed_results


def test_seed_configs_are_the_zoos_compared_models_for_every_seed():
    configs = seed_configs(10_000, 3)
    per_seed = [c for c in zoo_configs(10_000, 0) if c.method in SEED_METHODS and c.architecture == "conv"]
    assert len(per_seed) == 9 and len(configs) == 27  # VAE, beta-VAE x2, FactorVAE, beta-TCVAE x2, DIP-VAE-I x3
    assert configs[:9] == per_seed  # seed 0: exactly the zoo's entries, which the table installs, not retrains
    for seed in (1, 2):
        assert [c.seed for c in configs[9 * seed:9 * (seed + 1)]] == [seed] * 9
        assert [c.slug().replace(f"seed{seed}", "seed0") for c in configs[9 * seed:9 * (seed + 1)]] == \
            [c.slug() for c in per_seed]
    with pytest.raises(ValueError, match="num_seeds=0"):
        seed_configs(10_000, 0)


def test_seed_results_scores_every_seed_and_ships_a_checked_table(tmp_path, monkeypatch):
    monkeypatch.setattr(seeds_module, "zoo_configs",  # two of the compared models, to keep the test short
                        lambda steps, seed: [c for c in zoo_configs(steps, seed) if c.method in ("vae", "factor_vae")])
    shipped = tmp_path / "shipped"
    table = seed_results(2, steps=4, runs=tmp_path, device="cpu", workers=1, metrics=("mig",), num_train=100,
                         num_test=50, directory=shipped, progress=False)
    assert sorted(zip(table["method"], table["seed"])) == [("factor_vae", 0), ("factor_vae", 1), ("vae", 0), ("vae", 1)]
    assert (table["status"] == "ok").all() and table["mig.score"].between(0, 1).all()
    assert table["rate"].notna().all() and table["tc_mean"].notna().all()  # the unsupervised scores too
    read = shipped_seed_results(steps=4, directory=shipped)
    pd.testing.assert_frame_equal(read, table.drop(columns=["run_dir", "error"]).reset_index(drop=True),
                                  check_dtype=False)
    assert shipped_seed_results(steps=8, directory=shipped) is None  # nothing shipped at that age
    csv = shipped / "seeds-4.csv"
    csv.write_text(csv.read_text().replace("factor_vae", "beta_vae", 1))
    with pytest.raises(ValueError, match="damaged"):
        shipped_seed_results(steps=4, directory=shipped)
    failed = table.assign(status=["ok", "failed", "ok", "ok"])
    with pytest.raises(ValueError, match="did not finish"):
        export_seed_results(failed, seeds_module.Sweep(steps=4, out=str(tmp_path)), tmp_path / "other")
    assert not (tmp_path / "other").exists()
