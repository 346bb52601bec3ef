"""Write kafkalab/locks/kafka-<version>.json: every jar a Kafka broker, its tools and a Kafka
Connect worker with the MongoDB sink need.

Maintainers run this once per Kafka version (it needs Maven); users never do.

    python tools/lock_kafka.py 4.4.0

Three jar sets, each resolved by Maven from the POM below it:

* ``jars``: kafka_2.13 (broker, storage tool) plus kafka-tools without Kafka Connect's
  runtime, plus the log4j2 binding that sends broker logs to files. This is the class path
  of brokers and tools.
* ``connect``: what ``connect-runtime`` (with connect-api, connect-json and
  connect-transforms) needs at run time and ``jars`` lacks. A Connect worker's class path is
  ``jars`` followed by these, as in the official distribution, where both share ``libs/``.
* ``connect_plugins``: one Connect plugin folder per entry (``plugin.path``): the MongoDB
  connector and its driver. connect-api is the worker's (Connect loads it from the worker
  anyway) and Avro only serves the MongoDB source connector, which the course does not use.

Sizes and SHA-256 sums are computed from the files Maven downloaded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = "https://repo1.maven.org/maven2"
LOG4J_VERSION = "2.25.5"
MONGO_KAFKA_VERSION = "2.0.1"  # the newest Maven Central serves here (3.x is not)

_PROJECT = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkalab</groupId><artifactId>kafka-lock</artifactId><version>1</version>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""

KAFKA = """\
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{version}</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId>
        <artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>"""

CONNECT = """\
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId>
      <version>{version}</version></dependency>"""

MONGODB_PLUGIN = """\
    <dependency><groupId>org.mongodb.kafka</groupId><artifactId>mongo-kafka-connect</artifactId>
      <version>{mongo_kafka}</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-api</artifactId>
        </exclusion>
        <exclusion><groupId>org.apache.avro</groupId><artifactId>avro</artifactId></exclusion>
      </exclusions></dependency>"""


def resolve(dependencies: str) -> list[dict]:
    """The runtime jars Maven resolves for ``dependencies``, sorted by coordinates (a stable
    class path order keeps class data sharing archives valid across installs)."""
    with tempfile.TemporaryDirectory() as work:
        Path(work, "pom.xml").write_text(_PROJECT.format(dependencies=dependencies))
        listing = Path(work, "deps.txt")
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:list",
                "-DincludeScope=runtime",
                "-DoutputAbsoluteArtifactFilename=true",
                f"-DoutputFile={listing}",
            ],
            cwd=work,
            check=True,
        )
        jars = []
        for line in listing.read_text().splitlines():
            parts = line.strip().split(":")
            if len(parts) < 6 or parts[2] != "jar":
                continue
            group, artifact, _, jar_version, _scope, *file_parts = parts
            local = Path(":".join(file_parts).split(" ")[0])
            data = local.read_bytes()
            jars.append(
                {
                    "coordinates": f"{group}:{artifact}:{jar_version}",
                    "path": f"{group.replace('.', '/')}/{artifact}/{jar_version}/{local.name}",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                }
            )
    return sorted(jars, key=lambda jar: jar["coordinates"])


def _name(jar: dict) -> str:
    return jar["coordinates"].rsplit(":", 1)[0]


def main(version: str) -> None:
    kafka = resolve(KAFKA.format(version=version, log4j=LOG4J_VERSION))
    shared = {_name(jar): jar for jar in kafka}
    connect = []
    for jar in resolve(CONNECT.format(version=version)):
        same = shared.get(_name(jar))
        if same is None:
            connect.append(jar)
        elif same != jar:
            # One class path holds both sets: two versions of a library would clash.
            sys.exit(f"{jar['coordinates']} (Connect) differs from {same['coordinates']} (Kafka)")
    mongodb = resolve(MONGODB_PLUGIN.format(mongo_kafka=MONGO_KAFKA_VERSION))
    lock = {
        "kafka_version": version,
        "repository": REPOSITORY,
        "jars": kafka,
        "connect": connect,
        "connect_plugins": {"mongodb": mongodb},
    }
    target = Path(__file__).resolve().parents[1] / "kafkalab" / "locks" / f"kafka-{version}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(lock, indent=1) + "\n")
    for label, jars in [("Kafka", kafka), ("Connect", connect), ("MongoDB plugin", mongodb)]:
        print(f"{label}: {len(jars)} jars, {sum(j['size'] for j in jars) / 1e6:.1f} MB")
    print(f"written to {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "4.4.0")
