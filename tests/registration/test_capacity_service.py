"""Never over capacity: N people submit at the same instant (a barrier releases their threads) over real
HTTP to a programme with K < N places, on SQLite, PostgreSQL and MariaDB; exactly K get a place."""

from __future__ import annotations

import threading

from crmsync import db
from crmsync.models import ProgrammeStatus, RegProgramme, RegRegistration
from registration import catalogue
from tests.registration.conftest import SUMMER_ANSWERS

PEOPLE = 12
PLACES = 5


def test_concurrent_submissions_never_exceed_capacity(database_url, service_factory):
    service = service_factory(database_url, REGISTRATION_SUBMISSIONS_PER_ADDRESS="1000")
    with db.session_scope(database_url) as session:
        programme = session.get(RegProgramme, service.programmes["Data Analysis with Python"])
        catalogue.apply_catalogue(session, [{"id": programme.project.crm_id, "name": programme.project.name,
                                             "declaration": "summer-school"}],
                                  [{"id": programme.crm_id, "project_id": programme.project.crm_id,
                                    "name": programme.name, "capacity": PLACES}])
    people = [service.visitor() for _ in range(PEOPLE)]
    forms = [person.open_form("Data Analysis with Python") for person in people]  # each has its CSRF token
    barrier = threading.Barrier(PEOPLE)
    answers: list[int] = [0] * PEOPLE

    def submit(index: int) -> None:
        path, hidden = forms[index]
        barrier.wait()
        response = people[index].post(path, {**hidden, **SUMMER_ANSWERS, "email": f"person{index}@example.org"},
                                      allow_redirects=False)
        answers[index] = response.status_code

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [303] * PLACES + [409] * (PEOPLE - PLACES), answers
    with db.session_scope(database_url) as session:
        programme_id = service.programmes["Data Analysis with Python"]
        assert session.query(RegRegistration).filter_by(programme_id=programme_id).count() == PLACES
        assert catalogue.capacity_taken(session, programme_id) == PLACES
        assert session.get(RegProgramme, programme_id).status == ProgrammeStatus.FULL
    assert len(service.inbox.messages) == PLACES
    late = service.visitor()
    closed = late.get(f"/programmes/{programme_id}")
    assert closed.status_code == 409 and "This programme is full" in closed.text
    assert "Full" in late.get("/").text
