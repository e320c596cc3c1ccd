"""A learner's groups in one course, set (never toggled) to the names an enrolment lists."""

from __future__ import annotations

from crm_connector.administration.results import Refused


def wanted_names(text: str) -> list[str]:
    """groups_list as CRM users write it: one group name per line."""
    return sorted({line.strip() for line in (text or "").splitlines() if line.strip()})


def resolve(work, course_id: int, course_name: str, names: list[str]) -> tuple[list[dict], list[dict]]:
    """(the groups named, the course's other groups); Refused naming the ones the course lacks."""
    groups = work.moodle.get_course_groups(course_id)
    by_name = {g["name"]: g for g in groups}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise Refused(f"{course_name} has no group {', '.join(repr(n) for n in missing)}: create it (in Moodle, or "
                      "as a Moodle Group of the course here) or correct the Groups field")
    chosen = [by_name[n] for n in names]
    return chosen, [g for g in groups if g["name"] not in names]


def set_groups(work, user_id: int, chosen: list[dict], others: list[dict]) -> None:
    """Add to the chosen groups and take out of the others: adding a member again, or removing someone who is
    not one, changes nothing in Moodle, so a repeat is a no-op."""
    if chosen:
        work.write_moodle(work.moodle.add_group_members, [{"groupid": g["id"], "userid": user_id} for g in chosen])
    if others:
        work.write_moodle(work.moodle.delete_group_members,
                          [{"groupid": g["id"], "userid": user_id} for g in others])
