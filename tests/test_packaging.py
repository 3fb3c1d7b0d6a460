"""`pip install .` installs exactly our packages: the wheel holds every module and data file of the
tree and nothing else at its top level, and setuptools builds it without a warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "federation", "migrations", "policies", "resolvers", "schema", "seed", "server"]
# Where each package's folder lands inside the wheel, and what the wheel puts into site-packages.
INSTALLED_AS = {package: f"govshare/{package}" for package in PACKAGES}
TOP_LEVEL = {"govshare"}
# In the tree for review, never read at run time: the demo catalog's SDL (tests/server/test_subgraph.py).
NOT_INSTALLED = {"schema/subgraph.graphql"}
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "node_modules", ".govshare", "__pycache__", "*_cache",
                                    "build", "dist", "*.egg-info", "artifacts")


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file_and_only_our_top_level_names(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED, symlinks=True)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                             "-v", "-w", str(tmp_path / "dist"), str(source)],
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "would be ignored" not in output and "BuildBackendWarning" not in output, output[-3000:]
    (wheel,) = (tmp_path / "dist").glob("govshare-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = {n for n in archive.namelist() if not n.endswith("/")}
    dist_info = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert {n.split("/")[0] for n in names} - dist_info == TOP_LEVEL
    expected = {
        f"{INSTALLED_AS[package]}/{path.relative_to(ROOT / package).as_posix()}"
        for package in PACKAGES for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        and path.relative_to(ROOT).as_posix() not in NOT_INSTALLED
    } | {"govshare/__init__.py"}
    packaged = {n for n in names if n.split("/")[0] not in dist_info}
    assert sorted(expected - packaged) == [], "files of the tree missing from the wheel"
    assert sorted(packaged - expected) == [], "files in the wheel that the tree does not have"


def test_one_copy_of_each_module() -> None:
    """The app, the command line and the seed load every module of ours as govshare.<package> only: a
    module loaded under a bare name too (say, a string naming a module without govshare.) would be a
    second copy, with its own error classes and settings."""
    probe = ("import sys, govshare.server.app, govshare.server.cli, govshare.seed.writer, govshare.schema; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))")
    result = subprocess.run([sys.executable, "-c", probe, *PACKAGES], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
