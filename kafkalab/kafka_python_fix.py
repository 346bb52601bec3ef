"""Work around a kafka-python 3.0 bug that leaves a group consumer with no partitions, forever.

In kafka-python 3.0.x (3.0.12 is the newest release on 2026-11-30) ``poll()`` only drives a
group join while ``need_rejoin()`` is true. A leader's ``need_rejoin()`` can be true only
because its metadata snapshot changed (a topic created just before the consumers started),
and the join it starts makes it false again halfway through (the leader snapshots the
metadata while assigning). If the ``poll(timeout_ms=...)`` that started the join returns
before the join ends, no later ``poll()`` waits for it: the consumer stays ``REBALANCING``
with no partitions while the other members consume theirs. Measured on this project's 2-core
CI machine with a loaded CPU, two consumers of a new 4-partition topic ended that way in 4 to 9
of 25 tries; with this patch, 0 of 50.

Java's consumer does not have the bug: its ``rejoinNeededOrPending()`` is true while a join is
in flight. The patch gives kafka-python's ``BaseCoordinator.need_rejoin`` the same meaning.

It reaches every Python process of the course environment: ``kafkalab install`` (run by
``make setup``) writes a ``.pth`` file into the environment's ``site-packages`` that loads this
file at interpreter start; the file patches ``kafka.coordinator.base`` when a program imports
it and costs nothing otherwise. ``import kafkalab`` applies it as well.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

TARGET = "kafka.coordinator.base"
PTH_NAME = "kafkalab-kafka-python-fix.pth"
MODULE_NAME = "_kafkalab_kafka_python_fix"  # the copy next to the .pth file


def _affected(kafka_version: str) -> bool:
    parts = kafka_version.split(".")
    return parts[:2] == ["3", "0"]


def patch(module) -> bool:
    """Patch ``kafka.coordinator.base`` (already imported); True if the patch is in place."""
    coordinator = getattr(module, "BaseCoordinator", None)
    kafka = sys.modules.get("kafka")
    if coordinator is None or kafka is None:
        return False
    if getattr(coordinator.need_rejoin, "kafkalab_fix", False):
        return True
    if not _affected(getattr(kafka, "__version__", "")):
        return False

    def need_rejoin(self):
        """True if the group must be (re)joined or a join is still in flight."""
        return self.rejoin_needed or getattr(self, "_join_task", None) is not None

    need_rejoin.kafkalab_fix = True
    coordinator.need_rejoin = need_rejoin
    return True


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``kafka.coordinator.base`` like the other finders would, and patches it once run."""

    kafkalab_fix = True

    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader)
        return spec


def install() -> None:
    """Patch now if kafka-python is imported, otherwise as soon as it is."""
    if TARGET in sys.modules:
        patch(sys.modules[TARGET])
    elif not any(getattr(finder, "kafkalab_fix", False) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def install_startup_hook() -> str:
    """Write the ``.pth`` file (and a copy of this module) into this environment's site-packages.

    Returns the path of the ``.pth`` file.
    """
    import pathlib
    import sysconfig

    site_packages = pathlib.Path(sysconfig.get_path("purelib"))
    copy = site_packages / f"{MODULE_NAME}.py"
    copy.write_text(pathlib.Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
    pth = site_packages / PTH_NAME
    pth.write_text(f"import {MODULE_NAME}; {MODULE_NAME}.install()\n", encoding="utf-8")
    return str(pth)
