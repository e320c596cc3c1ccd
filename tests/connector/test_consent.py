"""Every Moodle policy's answer is its own record; the Contact's marketing consent follows the one policy named."""

from __future__ import annotations

from tests.connector.conftest import user

SITE_POLICY, MARKETING = 1, 2
MARKETING_NAME = "Marketing communications consent"


def answer(uid: int, policy: int, version: int, status: str, when: int, optional: bool | None = None) -> dict:
    data = {"userid": uid, "policyversionid": version, "policyid": policy,
            "policyname": MARKETING_NAME if policy == MARKETING else "Site policy", "version": f"v{version}",
            "status": status, "onbehalfof": False, "timemodified": when}
    if optional is not None:
        data["optional"] = optional
    return data


def consent(pipeline, uid: int, policy: int, version: int, status: str, when: int, optional: bool | None = None):
    return pipeline.message("consent.updated", f"consent:{uid}:{version}",
                            answer(uid, policy, version, status, when, optional))


def contact(sandbox, uid: int) -> dict:
    [found] = [r for r in sandbox.records("Contacts") if r.get("moodle_user_id_c") == str(uid)]
    return found


def test_accepting_the_site_policy_after_withdrawing_marketing_shows_marketing_withdrawn(pipeline, sandbox):
    settings = {"MARKETING_CONSENT_POLICY": MARKETING_NAME}
    pipeline.send(pipeline.message("user.created", "user:50", user(50)),
                  consent(pipeline, 50, MARKETING, 5, "accepted", 1795340000, optional=True),
                  consent(pipeline, 50, SITE_POLICY, 6, "accepted", 1795340000))
    pipeline.drain(env=settings)
    pipeline.send(consent(pipeline, 50, MARKETING, 5, "withdrawn", 1795344000, optional=True))
    pipeline.drain(env=settings)
    pipeline.send(consent(pipeline, 50, SITE_POLICY, 7, "accepted", 1795347600))  # site policy v2
    pipeline.drain(env=settings)

    learner = contact(sandbox, 50)
    assert (learner["moodle_consent_c"], learner["moodle_consent_date_c"]) == ("withdrawn", "2026-11-22T10:40:00+00:00")
    answers = {(r["moodle_policy_version_id"]): r for r in sandbox.records("mdl_Consents")}
    assert set(answers) == {"5", "6", "7"}
    assert {v: (r["name"], r["policy_version"], r["status"], r["optional"]) for v, r in answers.items()} == {
        "5": (MARKETING_NAME, "v5", "withdrawn", "1"), "6": ("Site policy", "v6", "accepted", "0"),
        "7": ("Site policy", "v7", "accepted", "0")}
    assert answers["7"]["time_answered"] == "2026-11-22T11:40:00+00:00"
    assert {r["mdl_consents_contactscontacts_ida"] for r in answers.values()} == {learner["id"]}
    assert {r["moodle_site_id"] for r in answers.values()} == {"test-site"}


def test_the_contact_follows_the_newest_marketing_answer_whatever_order_they_arrive_in(pipeline, sandbox):
    settings = {"MARKETING_CONSENT_POLICY": str(MARKETING)}  # by policy id
    pipeline.send(pipeline.message("user.created", "user:52", user(52)),
                  consent(pipeline, 52, MARKETING, 9, "accepted", 1795347600, optional=True))  # version 2
    pipeline.drain(env=settings)
    pipeline.send(consent(pipeline, 52, MARKETING, 8, "declined", 1795344000, optional=True))  # version 1, late
    pipeline.drain(env=settings)
    assert contact(sandbox, 52)["moodle_consent_c"] == "accepted"
    assert {r["status"] for r in sandbox.records("mdl_Consents")} == {"accepted", "declined"}

    pipeline.send(consent(pipeline, 52, MARKETING, 9, "withdrawn", 1795351200, optional=True))
    pipeline.drain(env=settings)
    assert (contact(sandbox, 52)["moodle_consent_c"], contact(sandbox, 52)["moodle_consent_date_c"]) == (
        "withdrawn", "2026-11-22T12:40:00+00:00")


def test_no_marketing_policy_named_leaves_the_contacts_consent_alone(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:53", user(53)),
                  consent(pipeline, 53, SITE_POLICY, 6, "accepted", 1795340000))
    pipeline.drain()
    assert contact(sandbox, 53)["moodle_consent_c"] == ""
    assert [r["status"] for r in sandbox.records("mdl_Consents")] == ["accepted"]


def test_only_withdrawing_a_compulsory_policy_anonymises_the_learner(pipeline, sandbox):
    settings = {"MARKETING_CONSENT_POLICY": MARKETING_NAME, "CONSENT_WITHDRAWAL_POLICY": "anonymise"}
    pipeline.send(pipeline.message("user.created", "user:51", user(51, "Private")),
                  consent(pipeline, 51, MARKETING, 5, "accepted", 1795340000, optional=True),
                  consent(pipeline, 51, SITE_POLICY, 6, "accepted", 1795340000))
    pipeline.drain(env=settings)
    pipeline.send(consent(pipeline, 51, MARKETING, 5, "withdrawn", 1795344000, optional=True))
    pipeline.drain(env=settings)
    learner = contact(sandbox, 51)
    assert (learner["first_name"], learner["email1"], learner["moodle_consent_c"]) == (
        "Private", "student51@example.invalid", "withdrawn")

    pipeline.send(consent(pipeline, 51, SITE_POLICY, 6, "withdrawn", 1795347600))  # no `optional`: compulsory
    pipeline.drain(env=settings)
    learner = contact(sandbox, 51)
    assert (learner["first_name"], learner["last_name"], learner["email1"]) == ("Deleted", "learner", "")
    assert {r["moodle_policy_version_id"]: r["status"] for r in sandbox.records("mdl_Consents")} == {
        "5": "withdrawn", "6": "withdrawn"}
