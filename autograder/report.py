"""The class report of an activity: ``python -m autograder report ACTIVITY``.

One self-contained Spanish HTML page (inline CSS and SVG, no scripts, nothing fetched), for
the instructor, with:

* the distribution of scores (a matplotlib chart rendered as inline SVG);
* the pass rate of every check (grade cell), from nbgrader's gradebook, hardest first;
* the submissions that timed out, crashed (kernel died, grading error), showed signals of
  tampering, or could not be imported;
* the seconds each submission took to grade.

It reads, all under the course folder:

* ``gradebook.db``: scores per submission and per grade cell (nbgrader);
* ``informes/<activity>/calificacion.json``: the grading runs (:func:`grading.grade_class`):
  ``{"activity", "finished", "jobs", "mode", "results": [{"student", "score", "max_score",
  "seconds", "ok", "error"}]}``;
* ``informes/<activity>/eventos/<student>.json``: what happened while each submission ran
  (:class:`trusted.TrustedExecute`): ``timeouts``, ``kernel_died``, ``kernel_unresponsive``,
  ``total_time_exceeded``, ``answers_refused``, ``checks``, ``grader_errors``, ``tamper``,
  ``isolated``, ``error``, ``seconds``;
* ``informes/<activity>/importacion.json`` when it exists: ``{"zip", "imported": [{"student",
  "name", "lms_id", "file"}], "problems": [{"folder", "name", "reason"}]}``.

and writes ``informes/<activity>/informe.html``.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from .activities import activity as find_activity
from .records import reports_dir

__all__ = ["ClassData", "collect", "report_path", "write_report"]

# Okabe-Ito: told apart by people with any common colour blindness.
BLUE, ORANGE, VERMILLION, GREEN, GREY = "#0072B2", "#E69F00", "#D55E00", "#009E73", "#6B6B6B"

TAMPER_LABELS = {
    "test-editado": "Comprobación editada",
    "test-borrado": "Comprobación borrada",
    "celda-bloqueada-editada": "Celda bloqueada editada",
    "celda-bloqueada-borrada": "Celda bloqueada borrada",
    "codigo": "Código que toca el corrector",
}


@dataclass
class Incident:
    category: str  # "tiempo", "fallo", "manipulacion"
    label: str
    detail: str


@dataclass
class Submission:
    student: str
    name: str = ""
    score: float | None = None
    max_score: float | None = None
    seconds: float | None = None
    ok: bool = True
    error: str = ""
    graded: bool = False  # in the gradebook
    cells: dict[str, float | None] = field(default_factory=dict)  # grade_id -> score
    events: dict | None = None
    incidents: list[Incident] = field(default_factory=list)


@dataclass
class Check:
    grade_id: str
    title: str
    points: float
    passed: int = 0
    partial: int = 0
    pending: int = 0
    total: int = 0
    points_sum: float = 0.0

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass
class ClassData:
    activity: str
    max_score: float
    submissions: list[Submission]
    checks: list[Check]
    run: dict  # calificacion.json without its results
    imported: dict | None  # importacion.json


def report_path(course_root: Path, activity: str) -> Path:
    return reports_dir(course_root, activity) / "informe.html"


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def collect(activity: str, course_root: Path) -> ClassData:
    """Everything the report shows, from the gradebook and the records under ``informes``."""
    course_root = Path(course_root)
    spec = find_activity(activity)
    name = spec.name if spec else activity
    folder = reports_dir(course_root, name)
    run = _read_json(folder / "calificacion.json") or {}
    imported = _read_json(folder / "importacion.json")
    found: dict[str, Submission] = {}

    def submission(student: str) -> Submission:
        return found.setdefault(student, Submission(student))

    for result in run.get("results", []):
        if isinstance(result, dict) and result.get("student"):
            entry = submission(str(result["student"]))
            entry.score = result.get("score")
            entry.max_score = result.get("max_score")
            entry.seconds = result.get("seconds")
            entry.ok = bool(result.get("ok", True))
            entry.error = str(result.get("error") or "")
    for path in sorted((folder / "eventos").glob("*.json")):
        events = _read_json(path)
        if events is not None:
            submission(path.stem).events = events
    for person in (imported or {}).get("imported", []):
        if isinstance(person, dict) and person.get("student") in found:
            found[person["student"]].name = str(person.get("name") or "")

    titles = {step.grade_id: step.title for step in spec.steps} if spec else {}
    checks: dict[str, Check] = {}
    max_score = 0.0
    gradebook_file = course_root / "gradebook.db"
    if gradebook_file.exists():  # never let Gradebook create an empty one
        max_score = _read_gradebook(gradebook_file, name, titles, checks, submission)
    order = list(titles)
    ordered = sorted(
        checks.values(),
        key=lambda c: (order.index(c.grade_id) if c.grade_id in order else len(order), c.grade_id),
    )
    for entry in found.values():
        if not max_score and entry.max_score:
            max_score = float(entry.max_score)
        if entry.seconds is None and entry.events:
            entry.seconds = entry.events.get("seconds")
        entry.incidents = _incidents(entry)
    return ClassData(
        activity=name,
        max_score=max_score,
        submissions=[found[s] for s in sorted(found)],
        checks=ordered,
        run={k: v for k, v in run.items() if k != "results"},
        imported=imported,
    )


def _read_gradebook(path: Path, name: str, titles: dict, checks: dict, submission) -> float:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{path}?timeout=60") as gradebook:
        try:
            assignment = gradebook.find_assignment(name)
        except MissingEntry:
            return 0.0
        for notebook in assignment.notebooks:
            for cell in notebook.grade_cells:
                checks[cell.name] = Check(
                    cell.name,
                    titles.get(cell.name, "Respuesta escrita (se corrige a mano)"),
                    float(cell.max_score or 0),
                )
        for graded in assignment.submissions:
            student = graded.student
            entry = submission(student.id)
            entry.graded = True
            full = " ".join(filter(None, (student.first_name, student.last_name)))
            entry.name = entry.name or full
            entry.score = float(graded.score)
            entry.max_score = float(graded.max_score)
            for notebook in graded.notebooks:
                for grade in notebook.grades:
                    check = checks.get(grade.name)
                    if check is None:
                        continue
                    check.total += 1
                    unscored = grade.auto_score is None and grade.manual_score is None
                    if unscored and grade.needs_manual_grade:
                        check.pending += 1
                        entry.cells[grade.name] = None
                        continue
                    score = float(grade.score or 0)
                    entry.cells[grade.name] = score
                    check.points_sum += score
                    if check.points and score >= check.points - 1e-9:
                        check.passed += 1
                    elif score > 0:
                        check.partial += 1
        return float(assignment.max_score or 0)


def _incidents(entry: Submission) -> list[Incident]:
    found: list[Incident] = []
    events = entry.events or {}
    for timeout in events.get("timeouts") or []:
        found.append(
            Incident(
                "tiempo",
                "Tiempo agotado",
                f"«{timeout.get('cell')}» interrumpida tras {timeout.get('seconds')} s",
            )
        )
    if events.get("kernel_unresponsive"):
        found.append(
            Incident(
                "tiempo",
                "Kernel sin respuesta",
                f"no respondía tras interrumpir «{events['kernel_unresponsive']}»: se detuvo",
            )
        )
    if events.get("total_time_exceeded"):
        found.append(
            Incident(
                "tiempo",
                "Tiempo total superado",
                "el cuaderno superó el tiempo total; las celdas restantes no se ejecutaron",
            )
        )
    if events.get("kernel_died"):
        found.append(
            Incident("fallo", "Kernel caído", f"el kernel murió durante «{events['kernel_died']}»")
        )
    for problem in events.get("grader_errors") or []:
        found.append(
            Incident(
                "fallo",
                "Error del corrector",
                f"«{problem.get('cell')}»: {problem.get('error')}",
            )
        )
    if not entry.ok:
        found.append(Incident("fallo", "Error al calificar", entry.error or "error desconocido"))
    elif events.get("error"):
        found.append(Incident("fallo", "Error al calificar", str(events["error"])))
    for variable in events.get("answers_refused") or []:
        found.append(
            Incident(
                "manipulacion",
                "Respuesta rechazada",
                f"{variable} no era un texto (str) y no se ha leído",
            )
        )
    for signal in events.get("tamper") or []:
        found.append(
            Incident(
                "manipulacion",
                TAMPER_LABELS.get(signal.get("kind"), "Señal"),
                f"«{signal.get('cell')}»: {signal.get('detail')}",
            )
        )
    return found


# -- charts ---------------------------------------------------------------------------------


def _svg(figure, title: str) -> str:
    """A matplotlib figure as inline, accessible SVG markup."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<svg\b", f'<svg role="img" aria-label="{escape(title)}"', svg, count=1)
    return svg


def _style():
    import matplotlib

    return matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # real text: crisp and selectable
            "font.family": "sans-serif",
            "font.size": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#9A9A9A",
            "axes.labelcolor": "#222222",
            "xtick.color": "#333333",
            "ytick.color": "#333333",
        }
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return text.replace(".", ",")


def score_chart(scores: list[float], max_score: float) -> str:
    """Bars of how many submissions got each score (bins when there are many scores)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _style():
        figure = Figure(figsize=(10, 3.4))
        axes = figure.subplots()
        distinct = sorted({round(s, 4) for s in scores})
        top = max(max_score, max(scores, default=0.0)) or 1.0
        if len(distinct) <= 12:
            counts = [sum(1 for s in scores if round(s, 4) == d) for d in distinct]
            width = top / 14
            bars = axes.bar(distinct, counts, width=width, color=BLUE, zorder=2)
            axes.set_xticks(distinct, [_fmt(d) for d in distinct])
        else:
            counts, edges, bars = axes.hist(
                scores, bins=10, range=(0, top), color=BLUE, edgecolor="white", zorder=2
            )
            axes.set_xticks(edges, [_fmt(e) for e in edges])
        axes.bar_label(bars, labels=[str(int(c)) if c else "" for c in counts], padding=2)
        average = statistics.fmean(scores)
        axes.axvline(
            average,
            color=VERMILLION,
            linestyle="--",
            linewidth=1.5,
            zorder=3,
            label=f"Media: {_fmt(average)}",
        )
        axes.set_xlim(-top / 12, top + top / 12)
        axes.set_ylim(0, max(counts) * 1.25 + 0.5)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="y", color="#E3E3E3", zorder=0)
        axes.set_xlabel(f"Puntuación (sobre {_fmt(max_score)})")
        axes.set_ylabel("Entregas")
        axes.legend(frameon=False, loc="upper left")
        return _svg(figure, "Distribución de las notas")


def seconds_chart(rows: list[Submission]) -> str:
    """Horizontal bars of the seconds each submission took, slowest first."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    timed = sorted((r for r in rows if r.seconds is not None), key=lambda r: -r.seconds)
    with _style():
        figure = Figure(figsize=(10, 1.0 + 0.3 * len(timed)))
        axes = figure.subplots()
        positions = list(range(len(timed)))
        troubled = [any(i.category in ("tiempo", "fallo") for i in r.incidents) for r in timed]
        colors = [ORANGE if t else BLUE for t in troubled]
        hatches = ["//" if t else "" for t in troubled]
        bars = axes.barh(positions, [r.seconds for r in timed], color=colors, zorder=2)
        # Student ids are text, never mathtext ("$" in a folder name).
        axes.set_yticks(positions, [r.student for r in timed], parse_math=False)
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
            bar.set_edgecolor("white")
        axes.bar_label(bars, labels=[f"{_fmt(r.seconds, 1)} s" for r in timed], padding=3)
        axes.invert_yaxis()
        axes.set_xlim(0, max(r.seconds for r in timed) * 1.18 + 0.1)
        axes.grid(axis="x", color="#E3E3E3", zorder=0)
        axes.set_xlabel("Segundos de calificación")
        if any(troubled):
            axes.legend(
                handles=[
                    Patch(color=BLUE, label="Sin incidencias"),
                    Patch(facecolor=ORANGE, hatch="//", edgecolor="white", label="Tiempo o fallo"),
                ],
                frameon=False,
                loc="lower right",
            )
        return _svg(figure, "Segundos de calificación por entrega")


# -- the page -------------------------------------------------------------------------------

CSS = """
:root { --ink:#1d2430; --muted:#5b6472; --line:#d9dee5; --soft:#f4f6f9; --blue:#0072B2;
        --orange:#E69F00; --red:#B8410A; --green:#007A5A; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--ink); background:#fff; }
main { max-width:1080px; margin:0 auto; padding:28px 32px 48px; }
header { border-bottom:3px solid var(--blue); padding-bottom:12px; margin-bottom:22px; }
h1 { font-size:26px; margin:0 0 4px; }
h2 { font-size:19px; margin:34px 0 6px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:16px; margin:20px 0 6px; }
.sub, .note { color:var(--muted); margin:2px 0; }
.note { font-size:14px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:12px; }
.card { background:var(--soft); border:1px solid var(--line); border-radius:8px;
        padding:10px 14px; }
.card b { display:block; font-size:22px; }
.card span { color:var(--muted); font-size:13px; }
figure { margin:10px 0; }
figure svg { width:100%; height:auto; display:block; }
table { border-collapse:collapse; width:100%; margin:8px 0; font-size:14px; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line);
         vertical-align:top; }
th { background:var(--soft); font-weight:600; }
tbody tr:nth-child(even) { background:#fafbfc; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
code { font:13px ui-monospace,"DejaVu Sans Mono",monospace; background:var(--soft);
       padding:1px 4px; border-radius:4px; }
.meter { display:flex; align-items:center; gap:8px; min-width:190px; }
.meter .track { flex:1; height:12px; background:#e8ebf0; border-radius:6px; overflow:hidden; }
.meter .fill { height:100%; background:var(--blue); }
.meter .fill.low { background:var(--red); }
.meter .fill.mid { background:var(--orange); }
.badge { display:inline-block; font-size:12px; font-weight:600; padding:1px 8px; margin:1px 2px;
         border-radius:10px; border:1px solid; white-space:nowrap; }
.b-tiempo { color:#7a4d00; background:#fff4dc; border-color:#e6b34d; }
.b-fallo { color:#8a2c00; background:#fdebe3; border-color:#e39a78; }
.b-manipulacion { color:#5a2a82; background:#f3ebfa; border-color:#b893d6; }
.b-ok { color:var(--green); background:#e5f5ef; border-color:#7fc7ad; }
.empty { color:var(--muted); font-style:italic; }
.warning { background:#fff4dc; border-left:4px solid var(--orange); padding:8px 12px; }
footer { margin-top:36px; color:var(--muted); font-size:13px; }
"""


def _badge(category: str, text: str) -> str:
    return f'<span class="badge b-{category}">{escape(text)}</span>'


def _meter(fraction: float, text: str) -> str:
    level = "low" if fraction < 0.5 else "mid" if fraction < 0.8 else ""
    return (
        f'<div class="meter"><div class="track"><div class="fill {level}" '
        f'style="width:{fraction * 100:.1f}%"></div></div><span>{escape(text)}</span></div>'
    )


def _table(headers: list[tuple[str, str]], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f'<th scope="col" class="{cls}">{escape(h)}</th>' for h, cls in headers)
    classes = [cls for _h, cls in headers]
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{c}">{cell}</td>' for c, cell in zip(classes, r, strict=True))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _who(entry: Submission) -> str:
    text = f"<strong>{escape(entry.student)}</strong>"
    if entry.name and entry.name != entry.student:
        text += f'<br><span class="note">{escape(entry.name)}</span>'
    return text


def render(data: ClassData) -> str:
    """The report page (HTML) of ``data``."""
    spec = find_activity(data.activity)
    rows = data.submissions
    scored = [r for r in rows if r.score is not None and r.graded]
    scores = [float(r.score) for r in scored]
    seconds = [float(r.seconds) for r in rows if r.seconds is not None]
    top = data.max_score
    parts: list[str] = []
    title = f"Informe de la clase · {data.activity}"
    now = datetime.datetime.now().astimezone().strftime("%d/%m/%Y %H:%M")
    parts.append(f"<header><h1>{escape(title)}</h1>")
    subtitle = f"Generado el {now}"
    if data.run.get("finished"):
        subtitle += f" · última calificación: {escape(_when(data.run['finished']))}"
        if data.run.get("mode"):
            mode = "servidores reutilizados" if data.run["mode"] == "warm" else "servidores nuevos"
            subtitle += f" ({mode}, {escape(str(data.run.get('jobs', 1)))} a la vez)"
    parts.append(f'<p class="sub">{subtitle}</p></header>')

    # Summary.
    full = sum(1 for s in scores if top and s >= top - 1e-9)
    troubled = sum(1 for r in rows if r.incidents)
    cards = [
        (str(len(scored)), "entregas calificadas"),
        (f"{_fmt(statistics.fmean(scores)) if scores else '—'} / {_fmt(top)}", "nota media"),
        (f"{_fmt(statistics.median(scores)) if scores else '—'}", "mediana"),
        (f"{full}", "con la nota máxima"),
        (f"{troubled}", "con incidencias"),
        (f"{_fmt(statistics.fmean(seconds), 1) + ' s' if seconds else '—'}", "por entrega (media)"),
    ]
    parts.append(
        '<section class="cards" aria-label="Resumen">'
        + "".join(f'<div class="card"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in cards)
        + "</section>"
    )
    not_isolated = [r.student for r in rows if r.events and r.events.get("isolated") is False]
    if not_isolated:
        parts.append(
            f'<p class="warning">{len(not_isolated)} entrega(s) se calificaron <strong>sin '
            "aislamiento</strong> (sin bubblewrap): su código pudo leer y escribir fuera de su "
            "carpeta.</p>"
        )

    # (a) Distribution.
    parts.append('<h2 id="distribucion">Distribución de las notas</h2>')
    if scores:
        parts.append(
            '<p class="note">Cuántas entregas obtuvieron cada puntuación automática. La línea '
            "discontinua marca la media.</p>"
        )
        parts.append(f"<figure>{score_chart(scores, top)}</figure>")
    else:
        parts.append('<p class="empty">Todavía no hay entregas calificadas en gradebook.db.</p>')

    # (b) Checks.
    parts.append('<h2 id="comprobaciones">Comprobaciones: cuántos las superan</h2>')
    parts.append(
        '<p class="note">Cada celda de comprobación de la actividad, de la que menos superan a '
        "la que más (según gradebook.db). Las primeras son los pasos que más se atascan.</p>"
    )
    ranked = sorted(data.checks, key=lambda c: (c.rate, data.checks.index(c)))
    check_rows = []
    for check in ranked:
        number = data.checks.index(check) + 1
        graded = check.total - check.pending
        meter = _meter(check.passed / graded if graded else 0.0, f"{check.passed} de {graded}")
        extra = []
        if check.partial:
            extra.append(f"{check.partial} con puntos parciales")
        if check.pending:
            extra.append(f"{check.pending} pendientes de corregir a mano")
        check_rows.append(
            [
                f"{number}",
                f"{escape(check.title)}<br><code>{escape(check.grade_id)}</code>"
                + (f'<br><span class="note">{escape("; ".join(extra))}</span>' if extra else ""),
                _fmt(check.points),
                meter,
                f"{_fmt(check.rate * 100, 0)} %" if graded else "—",
                _fmt(check.points_sum / graded) if graded else "—",
            ]
        )
    parts.append(
        _table(
            [
                ("Paso", "num"),
                ("Comprobación", ""),
                ("Puntos", "num"),
                ("Superada por", ""),
                ("Tasa", "num"),
                ("Puntos de media", "num"),
            ],
            check_rows,
            "No hay comprobaciones de esta actividad en gradebook.db.",
        )
    )

    # (c) Incidents.
    parts.append('<h2 id="incidencias">Incidencias</h2>')
    sections = [
        (
            "tiempo",
            "Tiempo agotado",
            "Celdas interrumpidas por superar su límite, o cuadernos detenidos al pasar del "
            "tiempo total. Se califica lo que llegó a Kafka y MongoDB.",
            "Ninguna entrega agotó el tiempo.",
        ),
        (
            "fallo",
            "Fallos: kernel caído o error al calificar",
            "El kernel murió, el proceso de calificación falló o una comprobación no pudo "
            "terminar. Conviene revisarlas y, si hace falta, volver a calificarlas.",
            "Ningún fallo.",
        ),
        (
            "manipulacion",
            "Señales de manipulación",
            "Son señales, no veredictos: celdas de comprobación editadas o borradas y código "
            "que toca el corrector (autograder, kafka, pymongo, IPython), las variables "
            "KAFKA_BOOTSTRAP_SERVERS o MONGODB_URI, o termina procesos. La nota no depende de "
            "ellas (las comprobaciones se deciden fuera del cuaderno); revisa el cuaderno antes "
            "de concluir nada.",
            "Ninguna señal de manipulación.",
        ),
    ]
    for category, heading, note, empty in sections:
        hits = [(r, [i for i in r.incidents if i.category == category]) for r in rows]
        hits = [(r, found) for r, found in hits if found]
        parts.append(f'<h3 id="{category}">{escape(heading)} ({len(hits)})</h3>')
        parts.append(f'<p class="note">{escape(note)}</p>')
        parts.append(
            _table(
                [("Entrega", ""), ("Nota", "num"), ("Qué ha pasado", "")],
                [
                    [
                        _who(r),
                        _score_text(r, top),
                        "<br>".join(
                            f"{_badge(category, i.label)} {escape(i.detail)}" for i in found
                        ),
                    ]
                    for r, found in hits
                ],
                empty,
            )
        )
    parts.append(_imports_section(data.imported))

    # (d) Seconds.
    parts.append('<h2 id="entregas">Entregas y segundos de calificación</h2>')
    if seconds:
        parts.append(
            f'<p class="note">{len(seconds)} entregas: media {_fmt(statistics.fmean(seconds), 1)} '
            f"s, mediana {_fmt(statistics.median(seconds), 1)} s, máximo "
            f"{_fmt(max(seconds), 1)} s, en total {_fmt(sum(seconds) / 60, 1)} min.</p>"
        )
        parts.append(f"<figure>{seconds_chart(rows)}</figure>")
    parts.append(
        _table(
            [
                ("Entrega", ""),
                ("Nota", "num"),
                ("Segundos", "num"),
                ("Estado", ""),
                ("Incidencias", ""),
            ],
            [
                [
                    _who(r),
                    _score_text(r, top),
                    _fmt(r.seconds, 1) if r.seconds is not None else "—",
                    _badge("ok", "calificada")
                    if r.ok and r.graded
                    else _badge("fallo", "sin calificar" if r.ok else "error"),
                    " ".join(_badge(i.category, i.label) for i in _unique(r.incidents))
                    or '<span class="empty">ninguna</span>',
                ]
                for r in rows
            ],
            "No hay entregas.",
        )
    )
    if spec is None:
        parts.append(
            f'<p class="warning">No conozco la actividad «{escape(data.activity)}» en '
            "autograder.activities: las comprobaciones se muestran por su grade_id.</p>"
        )
    parts.append(
        "<footer>Informe generado por <code>python -m autograder report</code> a partir de "
        "gradebook.db y de los registros de <code>informes/</code>.</footer>"
    )
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="es">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


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
    return f"{_fmt(entry.score)} / {_fmt(entry.max_score or top)}"


def _when(stamp: str) -> str:
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def _imports_section(imported: dict | None) -> str:
    heading = "Entregas no importadas"
    if imported is None:
        return (
            f'<h3 id="importacion">{heading}</h3><p class="empty">No hay registro de '
            "importación (importacion.json) para esta actividad.</p>"
        )
    problems = [p for p in imported.get("problems") or [] if isinstance(p, dict)]
    source = imported.get("zip")
    note = f"Del fichero <code>{escape(Path(str(source)).name)}</code>: " if source else ""
    note += (
        f"{len(imported.get('imported') or [])} importadas, {len(problems)} con problemas. "
        "Estas no se han calificado."
    )
    return (
        f'<h3 id="importacion">{heading} ({len(problems)})</h3><p class="note">{note}</p>'
        + _table(
            [("Carpeta", ""), ("Nombre", ""), ("Motivo", "")],
            [
                [
                    f"<code>{escape(str(p.get('folder', '')))}</code>",
                    escape(str(p.get("name") or "—")),
                    escape(str(p.get("reason") or "")),
                ]
                for p in problems
            ],
            "Todas las entregas del fichero se importaron.",
        )
    )


def write_report(activity: str, course_root: Path) -> Path:
    """Write the class report of ``activity`` and return its path
    (``<course>/informes/<activity>/informe.html``)."""
    data = collect(activity, Path(course_root))
    path = report_path(course_root, data.activity)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path
