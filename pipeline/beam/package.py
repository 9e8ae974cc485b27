"""dlpipe's code as a wheel for Beam workers, the way Dataflow, Flink and Spark workers get a
job's code (``--extra_package``): built from the source tree this process runs, once per
content (the wheel's directory is named by a digest of the files that go in it)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dlpipe.errors import DlpipeError

SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or unpacked sdist) this code runs from: it holds ``pyproject.toml``."""


def source_files(root: Path = SOURCE_ROOT) -> list[Path]:
    """The files the wheel is built from, relative to ``root``: pyproject.toml, the README
    it names, every module of the packages it ships and their package data."""
    import tomli

    setuptools = tomli.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    tops = [p.rstrip("*") for p in setuptools["packages"]["find"]["include"]]
    data = setuptools.get("package-data", {})
    files = {Path("pyproject.toml"), Path("README.md")}
    for top in tops:
        for module in (root / top).rglob("*.py"):
            if "__pycache__" not in module.parts:
                files.add(module.relative_to(root))
        for pattern in data.get(top, []):
            files.update(p.relative_to(root) for p in (root / top).glob(pattern))
    return sorted(files)


def source_digest(root: Path = SOURCE_ROOT) -> str:
    """A digest of the wheel's source files (names and contents)."""
    digest = hashlib.sha256()
    for rel in source_files(root):
        digest.update(str(rel).encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def project_wheel(cache_dir: Path, root: Path = SOURCE_ROOT) -> Path:
    """The wheel of dlpipe's code as it is now, built into ``cache_dir`` unless already there.

    The files are copied to a scratch directory first, so the build leaves nothing in the
    source tree. Offline: the build uses this environment's setuptools (no isolation).

    Raises:
      DlpipeError: no source tree here (dlpipe installed from a wheel), or the build failed.
    """
    if not (root / "pyproject.toml").is_file():
        raise DlpipeError(
            f"beam.stage_wheel needs dlpipe's source tree to build the workers' wheel; "
            f"{root} has no pyproject.toml (dlpipe was installed from a package). Set "
            "beam.stage_wheel=false when the workers' image holds dlpipe "
            "(beam.sdk_container_image)."
        )
    out = Path(cache_dir) / source_digest(root)[:16]
    built = sorted(out.glob("dlpipe-*.whl"))
    if built:
        return built[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out.parent) as tmp:
        src, dist = Path(tmp) / "src", Path(tmp) / "dist"
        for rel in source_files(root):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, src / rel)
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "--no-index", "--wheel-dir", str(dist), str(src)],
            capture_output=True, text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
        wheels = sorted(dist.glob("dlpipe-*.whl"))
        if build.returncode or not wheels:
            last = (build.stderr.strip().splitlines() or ["no wheel written"])[-1]
            raise DlpipeError(f"Building dlpipe's wheel for the Beam workers failed: {last}")
        try:
            dist.rename(out)  # atomic: a reader sees no half-written wheel
        except OSError:  # another run built the same content first
            pass
    return sorted(out.glob("dlpipe-*.whl"))[0]
