"""Write ``docs/configuration.md`` from the settings model: ``python scripts/gen_config_docs.py``."""

from __future__ import annotations

from pathlib import Path

from dunpai.core.config.reference import render

TARGET = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.name}")
