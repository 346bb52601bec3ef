"""The class report of an activity: ``python -m autograder report ACTIVITY``.

One self-contained Spanish HTML page (inline CSS and SVG, no scripts, nothing fetched), for
the instructor, written to ``informes/<activity>/informe.html``, with:

* the distribution of scores (a matplotlib chart rendered as inline SVG);
* the pass rate of every check (grade cell), from nbgrader's gradebook, hardest first;
* the submissions that timed out, crashed (kernel died, grading error), hit a resource limit,
  showed signals of tampering, or could not be imported;
* the seconds each submission took to grade.

Three parts: :mod:`.data` collects what the page shows (the gradebook and the grader's
records), :mod:`.charts` draws the charts, and the Jinja2 template
``autograder/instructor/templates/report/informe.html.j2`` (with ``informe.css``) lays out
the page and holds its Spanish text.
"""

from __future__ import annotations

import datetime
import functools
import statistics
from pathlib import Path

from ...activities import activity as find_activity
from ...grader.course import Course
from .charts import fmt, score_chart, seconds_chart
from .data import ClassData, Incident, Submission, collect

__all__ = ["ClassData", "collect", "render", "report_path", "write_report"]


def report_path(course_root: Path, activity: str) -> Path:
    return Course(course_root).report_page(activity)


@functools.cache
def _template():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("autograder.instructor", "templates/report"),
        autoescape=select_autoescape(["html.j2", "html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = fmt
    environment.filters["basename"] = lambda path: Path(str(path)).name
    environment.globals.update(score_text=_score_text, unique=_unique, when=_when)
    return environment.get_template("informe.html.j2")


def render(data: ClassData) -> str:
    """The report page (HTML) of ``data``."""
    from markupsafe import Markup

    rows = data.submissions
    scored = [r for r in rows if r.score is not None and r.graded]
    scores = [float(r.score) for r in scored]
    seconds = [float(r.seconds) for r in rows if r.seconds is not None]
    top = data.max_score
    ranked = sorted(data.checks, key=lambda c: (c.rate, data.checks.index(c)))
    return _template().render(
        title=f"Informe de la clase · {data.activity}",
        activity=data.activity,
        known_activity=find_activity(data.activity) is not None,
        generated=datetime.datetime.now().astimezone().strftime("%d/%m/%Y %H:%M"),
        run=data.run,
        top=top,
        summary={
            "graded": len(scored),
            "mean": statistics.fmean(scores) if scores else None,
            "median": statistics.median(scores) if scores else None,
            "full": sum(1 for s in scores if top and s >= top - 1e-9),
            "troubled": sum(1 for r in rows if r.incidents),
            "seconds": statistics.fmean(seconds) if seconds else None,
            "not_isolated": sum(1 for r in rows if r.events and r.events.isolated is False),
        },
        score_chart=Markup(score_chart(scores, top)) if scores else None,
        checks=[(data.checks.index(check) + 1, check) for check in ranked],
        sections={
            category: [(r, found) for r in rows if (found := _of(r.incidents, category))]
            for category in ("tiempo", "fallo", "limite", "manipulacion")
        },
        imported=data.imported,
        seconds=seconds,
        seconds_mean=statistics.fmean(seconds) if seconds else None,
        seconds_median=statistics.median(seconds) if seconds else None,
        seconds_chart=Markup(seconds_chart(rows)) if seconds else None,
        rows=rows,
    )


def _of(incidents: list[Incident], category: str) -> list[Incident]:
    return [i for i in incidents if i.category == category]


def _unique(incidents: list[Incident]) -> list[Incident]:
    seen, kept = set(), []
    for incident in incidents:
        if (incident.category, incident.label) not in seen:
            seen.add((incident.category, incident.label))
            kept.append(incident)
    return kept


def _score_text(entry: Submission, top: float) -> str:
    if entry.score is None or not (entry.graded or entry.ok):
        return "—"
    return f"{fmt(entry.score)} / {fmt(entry.max_score or top)}"


def _when(stamp: str) -> str:
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def write_report(activity: str, course_root: Path) -> Path:
    """Write the class report of ``activity`` and return its path
    (``<course>/informes/<activity>/informe.html``)."""
    data = collect(activity, Path(course_root))
    path = report_path(course_root, data.activity)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path
