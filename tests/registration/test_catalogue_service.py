"""The local catalogue and the capacity rule (registration/catalogue.py) on every database engine."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from crmsync import db
from crmsync.models import (
    ProgrammeStatus,
    RegistrationStatus,
    RegProgramme,
    RegProject,
    RegRegistration,
    utcnow,
)
from registration import catalogue

SAMPLE = Path(__file__).parents[2] / "registration" / "sample_catalogue.yaml"


def _registration(email: str, status: str = RegistrationStatus.SUBMITTED, hold_until=None) -> RegRegistration:
    return RegRegistration(id=str(uuid.uuid4()), email=email, answers={}, status=status, consent_version="v1",
                           consent_at=utcnow(), hold_until=hold_until)


def _programme(session, name: str) -> RegProgramme:
    return session.query(RegProgramme).filter_by(name=name).one()


def test_apply_catalogue_upserts_and_deactivates_what_is_gone(database_url):
    with db.session_scope(database_url) as session:
        catalogue.load_sample(session, SAMPLE)
    with db.session_scope(database_url) as session:
        assert session.query(RegProject).count() == 2
        assert {p.name: p.status for p in session.query(RegProgramme)} == {
            "Data Analysis with Python": "open", "Russian for Beginners": "open",
            "Project Management Essentials": "open"}
        project = session.query(RegProject).filter_by(name="Summer School").one()
        assert (project.declaration, project.digest_period) == ("summer-school", "daily")
    with db.session_scope(database_url) as session:
        catalogue.apply_catalogue(
            session, [{"id": "7a0c1e52-0000-4000-8000-000000000001", "name": "Summer School 2", "active": "1",
                       "digest_period": "weekly"}],
            [{"id": "7a0c1e52-0000-4000-8000-000000000101", "project_id": "7a0c1e52-0000-4000-8000-000000000001",
              "name": "Data Analysis", "active": "1", "capacity": "5", "opens_at": "2026-01-01 00:00:00",
              "closes_at": "2036-01-01T00:00:00Z", "course_crm_ids": ["c1", "c2"]}])
    with db.session_scope(database_url) as session:
        statuses = {p.name: (p.active, p.status) for p in session.query(RegProgramme)}
        assert statuses["Data Analysis"] == (True, "open")
        assert statuses["Russian for Beginners"] == (False, "inactive")
        assert statuses["Project Management Essentials"] == (False, "inactive")
        assert _programme(session, "Data Analysis").course_crm_ids == ["c1", "c2"]
        assert not session.query(RegProject).filter_by(name="Professional Development").one().active


def test_capacity_counts_confirmed_accepted_enrolled_and_live_holds(database_url):
    now = utcnow()
    with db.session_scope(database_url) as session:
        catalogue.load_sample(session, SAMPLE)
        programme = _programme(session, "Data Analysis with Python")
        for i, status in enumerate(RegistrationStatus.ALL):
            registration = _registration(f"p{i}@example.org", status)
            registration.programme_id = programme.id
            registration.hold_until = now + timedelta(hours=1) if status == RegistrationStatus.UNCONFIRMED else None
            session.add(registration)
        stale = _registration("old@example.org", RegistrationStatus.UNCONFIRMED, now - timedelta(seconds=1))
        stale.programme_id = programme.id
        session.add(stale)
    with db.session_scope(database_url) as session:
        programme = _programme(session, "Data Analysis with Python")
        # submitted, accepted, enrolled + the live unconfirmed one; not rejected/waitlisted/the stale hold.
        assert catalogue.capacity_taken(session, programme.id) == 4
        assert catalogue.drop_expired_holds(session) == 1
    with db.session_scope(database_url) as session:
        assert session.query(RegRegistration).filter_by(email="old@example.org").count() == 0
        assert session.query(RegRegistration).count() == len(RegistrationStatus.ALL)


def test_full_programme_refuses_and_reopens_when_a_place_frees(database_url):
    with db.session_scope(database_url) as session:
        catalogue.load_sample(session, SAMPLE)
        programme_id = _programme(session, "Russian for Beginners").id
    with db.session_scope(database_url) as session:
        first = _registration("a@example.org")
        catalogue.take_place(session, programme_id, first)
        first_id = first.id
    with db.session_scope(database_url) as session:
        assert session.get(RegProgramme, programme_id).status == ProgrammeStatus.FULL
        with pytest.raises(catalogue.ProgrammeUnavailable) as refused:
            catalogue.take_place(session, programme_id, _registration("b@example.org"))
        assert refused.value.reason == ProgrammeStatus.FULL
    with db.session_scope(database_url) as session:
        catalogue.set_status(session, first_id, RegistrationStatus.REJECTED, "no places for beginners")
    with db.session_scope(database_url) as session:
        assert session.get(RegProgramme, programme_id).status == ProgrammeStatus.OPEN
        assert session.get(RegRegistration, first_id).status_message == "no places for beginners"
        catalogue.set_status(session, first_id, RegistrationStatus.ACCEPTED)
    with db.session_scope(database_url) as session:
        assert session.get(RegProgramme, programme_id).status == ProgrammeStatus.FULL
        with pytest.raises(ValueError):
            catalogue.set_status(session, first_id, "bogus")


@pytest.mark.parametrize("change, reason", [
    ({"active": False}, ProgrammeStatus.INACTIVE),
    ({"opens_at": "2035-01-01 00:00:00"}, ProgrammeStatus.CLOSED),
    ({"closes_at": "2026-01-02 00:00:00"}, ProgrammeStatus.CLOSED),
])
def test_inactive_and_out_of_window_programmes_are_refused(sqlite_url, change, reason):
    record = {"id": "p1", "project_id": "j1", "name": "P", "active": True, "capacity": 5, **change}
    with db.session_scope(sqlite_url) as session:
        catalogue.apply_catalogue(session, [{"id": "j1", "name": "J"}], [record])
        programme = session.query(RegProgramme).one()
        assert programme.status == reason
        assert catalogue.offers(session, include_unavailable=False) == []
        with pytest.raises(catalogue.ProgrammeUnavailable) as refused:
            catalogue.take_place(session, programme.id, _registration("a@example.org"))
        assert refused.value.reason == reason
