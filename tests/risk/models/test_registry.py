"""The registry: versioned artefacts with metadata and checksum; champion and challenger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dunpai.risk.models.registry import ModelIntegrityError, Registry, UnknownModel
from dunpai.risk.models.train import Fitted

from .conftest import synthetic

WINDOW = {"train_from": "2018-08-01", "train_to": "2018-08-05", "valid_from": "2018-08-06", "valid_to": "2018-08-07"}


def test_register_load_round_trip(tmp_path: Path, fitted: Fitted) -> None:
    reg = Registry(tmp_path)
    version = reg.register(fitted, WINDOW)
    assert version.startswith("lgbm_")
    assert reg.role("champion") == version  # the first model of an empty registry
    meta = reg.meta(version)
    for key in ("params", "features", "data_window", "metrics", "model_sha256", "calibration", "best_iteration"):
        assert key in meta
    loaded = reg.load(version)
    x, _ = synthetic(30, 5)
    np.testing.assert_allclose(loaded.predict_batch(x), fitted.scorer.predict_batch(x), rtol=1e-12)
    assert loaded.version == version
    assert reg.register(fitted, WINDOW) == version  # same model, same version


def test_tampered_artefact_is_refused(tmp_path: Path, fitted: Fitted) -> None:
    reg = Registry(tmp_path)
    version = reg.register(fitted, WINDOW)
    path = tmp_path / version / "model.txt"
    path.write_text(path.read_text().replace("learning_rate", "learning_rata", 1))
    with pytest.raises(ModelIntegrityError):
        reg.load(version)


def test_tampered_metadata_is_refused(tmp_path: Path, fitted: Fitted) -> None:
    reg = Registry(tmp_path)
    version = reg.register(fitted, WINDOW)
    meta = tmp_path / version / "meta.json"
    meta.write_text(meta.read_text().replace('"platt"', '"none"'))
    with pytest.raises(ModelIntegrityError):
        reg.load(version)


def test_challenger_promotion(tmp_path: Path, fitted: Fitted, fitted_other: Fitted) -> None:
    reg = Registry(tmp_path)
    champion = reg.register(fitted, WINDOW)
    challenger = reg.register(fitted_other, WINDOW, role="challenger")
    assert challenger != champion
    assert reg.role("challenger") == challenger
    roles = {i.version: i.role for i in reg.versions()}
    assert roles == {champion: "champion", challenger: "challenger"}
    assert reg.promote() == challenger
    assert reg.role("champion") == challenger and reg.role("challenger") is None
    with pytest.raises(UnknownModel):
        reg.promote()
    with pytest.raises(UnknownModel):
        reg.promote("lgbm_000000000000")
