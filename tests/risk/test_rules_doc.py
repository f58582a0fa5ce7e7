"""docs/rules.md is generated from the code (every variable, with its meaning): it must be current."""

from __future__ import annotations

from pathlib import Path

from dunpai.risk.features.catalog import describe
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.rules.catalog import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_every_feature_has_an_explanation() -> None:
    missing = [n for n in FeaturePipeline().feature_names() if describe(n) is None]
    assert not missing


def test_the_rules_page_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m dunpai.risk.rules.catalog > docs/rules.md"
