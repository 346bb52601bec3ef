"""Command line of the grader.

python -m autograder prepare                  # sources -> nbgrader release versions
python -m autograder import ZIP ACTIVITY      # a Moodle "download all submissions" zip
python -m autograder grade ACTIVITY [--fresh]  # autograde every submission + feedback
python -m autograder report ACTIVITY          # the class report (HTML)
python -m autograder export ACTIVITY          # grades as a CSV for Moodle
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grader.course import COURSE_ROOT
from .instructor.grading import (
    CELL_TIMEOUTS,
    default_jobs,
    grade_class,
    prepare_course,
    summary_table,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder")
    parser.add_argument("--course", type=Path, default=COURSE_ROOT, help="carpeta del curso")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="convierte las fuentes y genera las versiones de alumno")
    grade = commands.add_parser("grade", help="califica todas las entregas de una actividad")
    grade.add_argument("activity", choices=sorted(CELL_TIMEOUTS))
    grade.add_argument(
        "--fresh",
        action="store_true",
        help="servidores nuevos para cada entrega (por defecto se reutilizan, vaciados)",
    )
    grade.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)  # the default
    grade.add_argument(
        "--sin-aislamiento",
        dest="sandbox",
        action="store_const",
        const="off",
        default="auto",
        help="no aislar las entregas con bubblewrap (solo si confías en su código)",
    )
    grade.add_argument(
        "--exigir-aislamiento",
        dest="sandbox",
        action="store_const",
        const="required",
        help="no calificar si no se puede aislar cada entrega",
    )
    grade.add_argument("--student", action="append", help="solo estos estudiantes")
    grade.add_argument("--timeout", type=int, help="segundos máximos por celda")
    grade.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="entregas que se califican a la vez (por defecto, según núcleos y memoria: "
        "%(default)s)",
    )
    grade.add_argument("--no-feedback", action="store_true")
    imports = commands.add_parser(
        "import", help="importa las entregas de un zip de Moodle («Descargar todas las entregas»)"
    )
    imports.add_argument("zip", type=Path, help="el zip descargado de Moodle")
    imports.add_argument("activity", help="la actividad (actividad1 o actividad1-hola-kafka)")
    export = commands.add_parser(
        "export", help="escribe las notas en un CSV para subirlo a Moodle (hoja de calificaciones)"
    )
    export.add_argument("activity", help="la actividad (actividad1 o actividad1-hola-kafka)")
    export.add_argument(
        "--salida", type=Path, help="el CSV (por defecto, informes/ACTIVIDAD/notas.csv)"
    )
    export.add_argument(
        "--sobre",
        type=float,
        help="calificación máxima de la tarea en Moodle (por defecto, los puntos de la actividad)",
    )
    report = commands.add_parser(
        "report", help="escribe el informe de la clase (HTML: notas, comprobaciones, incidencias)"
    )
    report.add_argument("activity", help="la actividad (actividad1 o actividad1-hola-kafka)")
    args = parser.parse_args(argv)

    course = args.course.resolve()
    if args.command == "prepare":
        prepare_course(course)
        print(f"Versiones de alumno en {course / 'release'}")
        return 0
    if args.command in ("import", "export", "report"):
        from .instructor.lms import LMSError, export_csv, import_zip

        try:
            if args.command == "report":
                from .activities import activity as find_activity
                from .instructor.report import write_report

                found = find_activity(args.activity)
                if found is None:
                    raise LMSError(f"No conozco la actividad «{args.activity}».")
                print(f"Informe de la clase en {write_report(found.name, course)}")
            elif args.command == "import":
                print(import_zip(args.zip, args.activity, course).text())
            else:
                path = export_csv(
                    args.activity, course, args.salida, out_of=args.sobre, progress=print
                )
                print(f"Notas para Moodle en {path}")
        except LMSError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 2
        return 0
    try:
        results = grade_class(
            args.activity,
            course_root=course,
            mode="fresh" if args.fresh else "warm",
            students=args.student,
            timeout=args.timeout,
            feedback=not args.no_feedback,
            sandbox=args.sandbox,
            jobs=args.jobs,
            bar=True,
        )
    except KeyboardInterrupt:
        print("\nInterrumpido: las notas ya calculadas están guardadas en gradebook.db.")
        return 130
    print()
    print(summary_table(args.activity, results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
