"""Command line: ``kafkalab install`` (download Kafka), ``kafkalab bin-dir`` (for PATH)."""

from __future__ import annotations

import argparse
import sys

from ._training import prepare_class_sharing
from .distribution import ensure_kafka
from .errors import KafkaLabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkalab", description="Kafka para el curso.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="descarga y verifica Kafka (solo la primera vez)")
    commands.add_parser("bin-dir", help="imprime la carpeta de kafka-topics.sh y compañía")
    args = parser.parse_args(argv)
    try:
        distribution = ensure_kafka(progress=args.command == "install" and sys.stderr.isatty())
        if args.command == "install":
            distribution.bootstrap_checkpoint()
            if prepare_class_sharing(distribution, progress=False):
                archives = distribution.archive("broker").parent
                print(f"Arranque rápido de Java preparado en {archives}")
            print(f"Kafka {distribution.version} listo en {distribution.home}")
            print(f"Herramientas (kafka-topics.sh, ...): {distribution.bin_dir}")
        else:
            print(distribution.bin_dir)
    except KafkaLabError as error:
        print(f"{error.title}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
