"""The GAN's scorer is named by version in the Evaluator's properties (its cache key)."""

from pipeline.config import CONFIG_DIR, load_config
from pipeline.evaluation import scorer_model_dir


def test_a_newer_scorer_version_changes_the_evaluator_property(tmp_path):
    config = load_config(CONFIG_DIR / "digits_gan.yaml", [f"output_root={tmp_path}"])
    base = config.serving_root / "digits"
    # No scorer yet (e.g. exporting a DAG elsewhere): the base dir, resolved at run time.
    assert scorer_model_dir(config) == str(base)
    for version in ("1", "2"):
        (base / version).mkdir(parents=True)
        (base / version / "saved_model.pb").write_bytes(b"")
        assert scorer_model_dir(config) == str(base / version)
