"""nbgrader's Collect for a shared exchange: a submission counts only for the person who made it.

On a hub (deploy/jupyterhub) nbgrader's exchange is one folder shared by the whole class, and
its ``inbound`` folder must be writable by every student so that Submit works. A submission's
name says whose it is (``<student>+<activity>+<time>+<random>``), and nothing stops a student
from writing a folder under a classmate's name: with their own solved notebook, for a friend
who did nothing. nbgrader's Collect believes the name.

:class:`OwnerCheckedCollect` believes the file system instead: a submission is collected
only when its folder belongs to the Unix id the class gave that student (the hub hands the
list to the instructor's container in ``KAFKALAB_AULA_UIDS``, JSON ``{"ana": 2001, ...}``).
Any other is left in the exchange and reported in Spanish in Collect's log, which the
formgrader shows. ``nbgrader_config.py`` uses it when that variable is set.
"""

from __future__ import annotations

import glob
import json
import os

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect, groupby

__all__ = ["UIDS_ENV", "OwnerCheckedCollect"]

UIDS_ENV = "KAFKALAB_AULA_UIDS"


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's ``ExchangeCollect``, without the submissions made under someone else's name."""

    def _owners(self) -> dict[str, int]:
        try:
            return {str(k): int(v) for k, v in json.loads(os.environ[UIDS_ENV]).items()}
        except (KeyError, ValueError, TypeError, AttributeError):
            self.fail(
                f"Falta la lista de cuentas de la clase ({UIDS_ENV}): sin ella no se puede "
                "saber de quién es cada entrega."
            )

    def _genuine(self, record: dict, owners: dict[str, int]) -> bool:
        path = os.path.join(self.inbound_path, record["filename"])
        owner = os.lstat(path).st_uid
        expected = owners.get(record["username"])
        if expected is not None and owner == expected:
            return True
        by = [name for name, uid in owners.items() if uid == owner]
        who = f"la cuenta de {by[0]}" if by else f"la cuenta {owner}, que no es de la clase"
        if expected is None:
            reason = f"«{record['username']}» no está en la lista de la clase"
        else:
            reason = f"la dejó {who}, no {record['username']}"
        self.log.warning("Entrega descartada: %s (%s).", record["filename"], reason)
        return False

    def init_src(self):
        # nbgrader's init_src, with the records filtered by owner before the latest is chosen.
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        owners = self._owners()
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        # As nbgrader: the student id is a pattern ("*", the default, is everyone).
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student}+{self.coursedir.assignment_id}+*")
        records = [self._path_to_record(f) for f in glob.glob(pattern)]
        records = [r for r in records if self._genuine(r, owners)]
        usergroups = groupby(records, lambda item: item["username"])
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for group in usergroups.values():
            ordered = self._sort_by_timestamp(group)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in ordered if r["timestamp"] <= self.duedate]
                ordered = on_time or ordered
            self.src_records.append(ordered[0])
