"""Write kafkalab/locks/kafka-<version>.json: every jar a Kafka broker and its tools need.

Maintainers run this once per Kafka version (it needs Maven); users never do.

    python tools/lock_kafka.py 4.4.0

The jar set is kafka_2.13 (broker, storage tool) plus kafka-tools without Kafka Connect's
runtime (the course uses no Connect worker), plus the log4j2 binding that sends broker logs
to files. Sizes and SHA-256 sums are computed from the files Maven downloaded.
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

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkalab</groupId><artifactId>kafka-lock</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{version}</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId>
        <artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


def main(version: str) -> None:
    with tempfile.TemporaryDirectory() as work:
        Path(work, "pom.xml").write_text(POM.format(version=version, log4j=LOG4J_VERSION))
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
    # A stable class path order keeps class data sharing archives valid across installs.
    jars.sort(key=lambda jar: jar["coordinates"])
    lock = {"kafka_version": version, "repository": REPOSITORY, "jars": jars}
    target = Path(__file__).resolve().parents[1] / "kafkalab" / "locks" / f"kafka-{version}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(lock, indent=1) + "\n")
    print(f"{target}: {len(jars)} jars, {sum(j['size'] for j in jars) / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "4.4.0")
