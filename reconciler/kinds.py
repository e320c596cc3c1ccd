"""The words of a reconciliation's report: the kinds of difference and the entities they are about.

Apart from reconciler/compare.py, which finds the differences, so that what only reads a report (the
receiver's admin API and /metrics, the notices) does not load the connector's CRM and Moodle clients.
"""

MISSING_IN_CRM = "missing_in_crm"
EXTRA_IN_CRM = "extra_in_crm"
FIELD_DIFFERS = "field_differs"
DUPLICATE_CONTACT = "duplicate_contact"
UNKNOWN_MOODLE_USER = "unknown_moodle_user"
KINDS = (MISSING_IN_CRM, EXTRA_IN_CRM, FIELD_DIFFERS, DUPLICATE_CONTACT, UNKNOWN_MOODLE_USER)

ENTITY_OF_PREFIX = {"user": "user", "course": "course", "activity_summary": "course", "enrolment": "enrolment",
                    "group": "group", "grade": "grade", "module_completion": "completion",
                    "course_completion": "completion", "attendance": "attendance", "consent": "consent"}
ENTITIES = tuple(sorted(set(ENTITY_OF_PREFIX.values())))
