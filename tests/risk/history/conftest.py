"""A test bank's export, its mapping, and a data directory it was imported into (once a session)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dunpai.cli.main import app
from tests.kdf import CHEAP_KDF_ENV
from tests.risk.history import synthetic


@dataclass(frozen=True)
class Export:
    csv: Path
    mapping: Path
    rows: int
    frauds: int


def dunpai(*args: str) -> Result:
    """Run a ``dunpai`` command in-process (cheap key-store KDF, as tests do)."""
    return CliRunner().invoke(app, list(args), env=CHEAP_KDF_ENV, catch_exceptions=False)


def dunpai_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = dunpai(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    folder = tmp_path_factory.mktemp("export")
    counts = synthetic.write(folder / "payments.csv", cards=80, stolen=20)
    (folder / "mapping.yaml").write_text(synthetic.MAPPING, encoding="utf-8")
    return Export(folder / "payments.csv", folder / "mapping.yaml", counts["rows"], counts["frauds"])


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory, export: Export) -> Iterator[tuple[Path, dict]]:  # type: ignore[type-arg]
    data = tmp_path_factory.mktemp("bank")
    summary = dunpai_json("import", str(export.csv), "--mapping", str(export.mapping), "--data-dir", str(data))
    yield data, summary
