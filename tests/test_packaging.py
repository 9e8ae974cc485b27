"""The Docker image holds every package the wheel ships: the image is built where a Docker
engine runs (not on the CI machines), so a package left out of its COPY lines would only show
as an ImportError in production."""

from __future__ import annotations

import re

import tomli

from tests.conftest import REPO


def _shipped_packages() -> set[str]:
    config = tomli.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {p.rstrip("*") for p in patterns}
    assert all((REPO / top / "__init__.py").is_file() for top in tops), tops
    return tops


def test_the_image_copies_every_shipped_package():
    copied = set(re.findall(r"^COPY\s+(\S+)\s+\./\1\s*$",
                            (REPO / "Dockerfile").read_text(), flags=re.M))
    missing = _shipped_packages() - copied
    assert not missing, f"Dockerfile does not COPY {sorted(missing)}"


def test_every_top_level_package_of_the_tree_is_shipped():
    tops = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench"}
    assert tops == _shipped_packages()
