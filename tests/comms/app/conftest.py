"""Fixtures for the app's browser tests: one loopback deployment, apps as processes, headless Chromium
(Debian's) with a fake microphone playing a WAV file.

The browser tests skip when Chromium or Playwright is missing, unless DUNPAI_REQUIRE_SERVICES=1,
where they fail. Screenshots go to ``build/test-artifacts/app`` and, with
``DUNPAI_UPDATE_SCREENSHOTS=1``, to ``docs/screenshots`` as well.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.comms.app.harness import REPO
from tests.services import services_required

CHROMIUM = os.environ.get("DUNPAI_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
               "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = Path(os.environ.get("DUNPAI_ARTIFACTS", REPO / "build" / "test-artifacts")) / "app"
DOCS_SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM} (scripts/system-deps.sh installs it)"
    if reason is not None:
        if services_required():
            pytest.fail(f"browser tests required (DUNPAI_REQUIRE_SERVICES=1): {reason}")
        pytest.skip(reason)
    with sync_playwright() as p:
        yield p


def launch(playwright: Any, fake_audio: Path | None = None, fake_video: Path | None = None) -> Any:
    args = list(LAUNCH_ARGS)
    if fake_audio is not None:
        args.append(f"--use-file-for-fake-audio-capture={fake_audio}")
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_video}")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


def shoot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"app-{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("DUNPAI_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SHOTS / path.name)
    return path
