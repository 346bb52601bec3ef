"""Lay out a docker build context for images/build.sh.

Usage: python images/stage.py kafka DIR   (prints the Kafka version)
       python images/stage.py mongo DIR

kafka: images/kafka/* plus ``libs/`` (the verified jars of the lock file, from the kafkalab
cache) and one launch script per Kafka tool in ``bin/``, with the official names and main
classes (kafkalab.distribution.TOOLS). mongo: images/mongo/* plus the FerretDB binary.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kafkalab.distribution import TOOLS, ensure_kafka  # noqa: E402
from kafkalab.mongo.ferretdb import ensure_ferretdb  # noqa: E402

_TOOL_SCRIPT = """\
#!/bin/sh
# {name}: Apache Kafka {version} ({main_class}).
exec "$(dirname "$0")/kafka-run-class.sh" {main_class} "$@"
"""


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_kafka(context: Path) -> str:
    distribution = ensure_kafka(progress=False)
    shutil.copytree(HERE / "kafka", context, symlinks=True)
    libs = context / "libs"
    libs.mkdir()
    for jar in distribution.jars:
        _link_or_copy(jar, libs / jar.name)
    for name, (main_class, _) in TOOLS.items():
        script = context / "bin" / name
        script.write_text(
            _TOOL_SCRIPT.format(name=name, version=distribution.version, main_class=main_class)
        )
    for script in (context / "bin").iterdir():
        script.chmod(0o755)
    (context / "docker" / "run").chmod(0o755)
    return distribution.version


def stage_mongo(context: Path) -> None:
    shutil.copytree(HERE / "mongo", context)
    shutil.copy2(ensure_ferretdb(progress=True), context / "ferretdb")


def main() -> int:
    kind, folder = sys.argv[1], Path(sys.argv[2])
    if kind == "kafka":
        print(stage_kafka(folder))
    elif kind == "mongo":
        stage_mongo(folder)
    else:
        raise SystemExit(f"unknown image {kind!r}: use kafka or mongo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
