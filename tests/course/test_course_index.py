"""The course as text: the index lists every lesson, every lesson has its solution and its
pictures, the Spanish uses one term per idea, and no code cell can wait forever on a re-run.

These read the files only (fast); tests/course/test_NN_*.py run the lessons.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import jupytext
import pytest

from tests.support.course import SOLUTIONS
from tests.support.notebooks import COURSE

LESSONS = sorted(COURSE.glob("[0-9][0-9]-*.md"))
ACTIVITIES = sorted((COURSE.parent / "assignments" / "source").glob("*/*.md"))
STUDENT_TEXTS = LESSONS + ACTIVITIES
IMAGES = COURSE / "img"


def test_readme_lists_every_lesson():
    readme = (COURSE / "README.md").read_text()
    assert len(LESSONS) == 10
    for lesson in LESSONS:
        assert f"]({lesson.name})" in readme, lesson.name
    assert "make lab" in readme


def test_every_lesson_and_the_index_link_the_glossary_and_its_links_work():
    """One word per idea, in one place: the glossary, linked from every lesson and the index;
    the lessons it names exist."""
    glossary = COURSE / "glosario.md"
    for path in [*LESSONS, COURSE / "README.md"]:
        assert "](glosario.md)" in path.read_text(), path.name
    text = glossary.read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        assert (COURSE / target).exists(), target
    numbers = {int(lesson.name[:2]) for lesson in LESSONS}
    named = {int(n) for n in re.findall(r"Cuadernos? (\d+)", text)}
    named |= {int(n) for n in re.findall(r"Cuadernos \d+ y (\d+)", text)}
    assert named and named <= numbers, named - numbers
    terms = re.findall(r"^- \*\*([^*]+)\*\*", text, flags=re.M)
    assert len(terms) == len(set(terms)) >= 25, terms


QUIZ_CALL = re.compile(r"kafkalab\.quiz\((.*?)\)", flags=re.S)


def _bank() -> dict:
    import json

    from kafkalab.notebook import QUIZ_BANK

    return json.loads(QUIZ_BANK.read_text())


def _plain(text: str) -> str:
    return " ".join(text.split())


def test_quizzes_come_from_the_bank_and_their_answers_are_not_in_the_lessons():
    """Each lesson names its questions by id only: neither the right answer nor the
    explanation can be read in its source. Every question of the bank is used once."""
    bank = _bank()
    used = []
    for lesson in LESSONS:
        text = lesson.read_text()
        for arguments in QUIZ_CALL.findall(text):
            assert re.fullmatch(r'"\d\d-\d+"', arguments), (lesson.name, arguments)
            used.append(arguments.strip('"'))
            assert used[-1].startswith(lesson.name[:2]), (lesson.name, used[-1])
        plain = _plain(text)
        for question_id, entry in bank.items():
            assert _plain(entry["explicacion"])[:60] not in plain, (lesson.name, question_id)
            answer = _plain(entry["correcta"])
            assert len(answer) < 20 or answer not in plain, (lesson.name, question_id, answer)
    assert sorted(used) == sorted(bank) and len(used) == len(set(used))


def test_no_answer_position_dominates_and_no_question_is_asked_twice():
    """Shuffled per person: for every one of 30 people, no position holds the right answer
    in more than half of the questions. And no two questions are the same question."""
    import difflib

    from kafkalab.notebook import quiz_order

    bank = _bank()
    for person in [f"estudiante{n}" for n in range(30)]:
        positions = [
            quiz_order(qid, 1 + len(entry["incorrectas"]), person).index(0)
            for qid, entry in bank.items()
        ]
        most = max(positions.count(p) for p in set(positions))
        assert most <= len(positions) / 2, (person, positions)
    entries = list(bank.items())
    for n, (first, a) in enumerate(entries):
        for second, b in entries[n + 1 :]:
            similar = difflib.SequenceMatcher(None, a["pregunta"], b["pregunta"]).ratio()
            assert similar < 0.7, (first, second, similar)
            assert a["correcta"] != b["correcta"], (first, second)


CORE_PATH_WORDS = 2000
MORE = "## Para saber más"


def core_path_words(text: str) -> int:
    """Words of prose a student reads before the lesson's optional part: without the front
    matter and code, up to the first «Para saber más» section (or the self-assessment)."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    ends = [text.find(mark) for mark in (MORE, "## Autoevaluación") if mark in text]
    return len(text[: min(ends)].split())


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem[:2])
def test_core_path_of_every_lesson_is_at_most_2000_words(path):
    """What is beyond the core (share groups, the dynamic quorum, the partitioner's history)
    sits in «Para saber más» sections after it, before the self-assessment."""
    text = path.read_text()
    assert core_path_words(text) <= CORE_PATH_WORDS, core_path_words(text)
    if MORE in text:
        assert text.index(MORE) < text.index("## Autoevaluación")


def test_every_lesson_has_one_solution_and_every_solution_a_lesson():
    solutions = sorted(path.stem for path in SOLUTIONS.glob("*.ipy"))
    assert solutions == [lesson.stem for lesson in LESSONS]


def test_pictures_exist_are_valid_svg_and_are_all_used():
    referenced = set()
    for lesson in LESSONS:
        for target in re.findall(r"!\[[^\]]+\]\((img/[^)]+)\)", lesson.read_text()):
            path = COURSE / target
            assert path.is_file(), f"{lesson.name}: {target} no existe"
            root = ElementTree.parse(path).getroot()
            assert root.tag == "{http://www.w3.org/2000/svg}svg", target
            assert {"width", "height", "viewBox"} <= set(root.attrib), target
            assert root.find(".//{http://www.w3.org/2000/svg}text") is not None, target
            referenced.add(path.name)
    assert referenced == {path.name for path in IMAGES.glob("*.svg")}
    lessons_with_pictures = {name[:2] for name in referenced}
    assert {"00", "01", "05", "07"} <= lessons_with_pictures | live_pictures()


def live_pictures() -> set[str]:
    """Lessons whose picture is drawn from the live cluster (a cell tagged dibujo-*)."""
    return {
        lesson.name[:2]
        for lesson in LESSONS
        if re.search(r"^:tags: \[.*dibujo", lesson.read_text(), flags=re.M)
    }


# One term per idea (pattern, what to write instead).
WRONG_TERMS = [
    (r"\blibrerías?\b", "biblioteca"),
    (r"\b(?:la|las|una|nueva|nuevas) líder(?:es)?\b", "el líder / la réplica líder"),
    (r"\bpegajos[oa]s?\b", "particionador *sticky*"),
    (r"\bun TimeoutException\b", "una TimeoutException"),
    (r"(?<![(«])\btemas?\b(?![)»])", "topic; «tema» solo como traducción, entre paréntesis"),
    (r"\bbootstrap servers?\b(?!\*?\))", "servidor de arranque"),
    # The glossary: a record is a «mensaje», a partition's or KRaft's sequence a «log», and a
    # «registro» only what a program logs.
    (r"\bregistros? de (?:metadatos|solo añadir)\b", "log de metadatos / log de solo añadir"),
    (r"\b(?:los|todos los|cuántos|demás|borrar) registros\b", "mensajes"),
]


@pytest.mark.parametrize("path", STUDENT_TEXTS, ids=lambda p: p.name)
def test_spanish_uses_one_term_per_idea(path):
    problems = []
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "markdown":
            continue
        prose = re.sub(r"`[^`]*`", "", cell.source)  # code spans name options, not ideas
        for pattern, instead in WRONG_TERMS:
            for found in re.findall(pattern, prose, flags=re.IGNORECASE):
                problems.append(f"«{found}» → {instead}")
    assert not problems, problems


def code_lines(path) -> list[str]:
    """Every line of every code cell, shell continuations (`\\` at the end) joined."""
    return [
        line
        for cell in jupytext.read(path).cells
        if cell.cell_type == "code"
        for line in re.sub(r"\\\n\s*", " ", cell.source).splitlines()
    ]


@pytest.mark.parametrize("path", STUDENT_TEXTS, ids=lambda p: p.name)
def test_console_tools_use_kafka_4_2_option_names(path):
    old = [
        line
        for line in code_lines(path)
        if re.search(r"--(property|consumer-property|producer-property)\b", line)
    ]
    assert not old, old


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_console_consumers_in_cells_end_by_themselves(path):
    """A console consumer run to completion in a cell (or in the lesson's solution) needs
    --timeout-ms, or a re-run (with fewer new messages than --max-messages, or a group that
    already read them) waits forever."""
    solution = (SOLUTIONS / f"{path.stem}.ipy").read_text()
    lines = code_lines(path) + re.sub(r"\\\n\s*", " ", solution).splitlines()
    consumers = [line for line in lines if "kafka-console-consumer.sh" in line]
    if path.name.startswith(("00", "01")):  # the console lessons: the reader finds them
        assert len(consumers) >= 3, consumers
    waiting = [line for line in consumers if "--timeout-ms" not in line]
    assert not waiting, waiting
