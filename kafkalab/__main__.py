"""Command line: ``kafkalab install [--mongo]`` (download Kafka and Kafka Connect with its
MongoDB connector; prepare a MongoDB server),
``kafkalab bin-dir`` (for PATH)."""

from __future__ import annotations

import argparse
import sys

from .distribution import ensure_connect, ensure_kafka
from .errors import KafkaLabError
from .kafka_python_fix import install_startup_hook
from .mongo import choose_local_server
from .training import prepare_class_sharing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkalab", description="Kafka para el curso.")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser(
        "install", help="descarga y verifica Kafka y Kafka Connect (solo la primera vez)"
    )
    install.add_argument(
        "--mongo",
        action="store_true",
        help="prepara también un servidor MongoDB local y dice cuál se usará: mongod (el del "
        "PATH o el que trae el proyecto en Linux x86_64); si no, FerretDB, que se compila con "
        "Go la primera vez (unos minutos)",
    )
    commands.add_parser("bin-dir", help="imprime la carpeta de kafka-topics.sh y compañía")
    args = parser.parse_args(argv)
    try:
        distribution = ensure_kafka(progress=args.command == "install" and sys.stderr.isatty())
        if args.command == "install":
            distribution.bootstrap_checkpoint()
            progress = sys.stderr.isatty()
            plugins = ensure_connect(distribution, progress=progress)
            install_startup_hook()
            if prepare_class_sharing(distribution, progress=False):
                archives = distribution.archive("broker").parent
                print(f"Arranque rápido de Java preparado en {archives}")
            print(f"Kafka {distribution.version} listo en {distribution.home}")
            print(f"Herramientas (kafka-topics.sh, ...): {distribution.bin_dir}")
            print(f"Kafka Connect listo (connect-standalone.sh); conectores en {plugins}")
            if distribution.tool_server_jar.exists():
                print(
                    "JVM de herramientas lista: en un notebook, las herramientas de Kafka se "
                    "ejecutan en una JVM ya arrancada por clúster"
                )
            if args.mongo:
                try:
                    server = choose_local_server("auto", progress=True)
                except KafkaLabError as error:
                    # Only the MongoDB lessons need it: the rest of the course works.
                    print(f"Aviso, MongoDB no está listo: {error}", file=sys.stderr)
                else:
                    print(f"MongoDB: se usará {server.source} ({server.executable})")
        else:
            print(distribution.bin_dir)
    except KafkaLabError as error:
        print(f"{error.title}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
