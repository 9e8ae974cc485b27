"""A headless Chromium renders the report of the default run (Debian's ``chromium``)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get "
                    "install -y --no-install-recommends chromium)")
def test_headless_chromium_screenshot(default_run, tmp_path):
    from PIL import Image

    assert default_run.returncode == 0, default_run.stdout + default_run.stderr
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,4000", default_run.report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "ERR_" not in result.stderr, result.stderr  # e.g. net::ERR_FILE_NOT_FOUND
    picture = Image.open(shot)
    assert picture.size == (1280, 4000)
    assert shot.stat().st_size > 50_000
    colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, "the screenshot is nearly one colour"
