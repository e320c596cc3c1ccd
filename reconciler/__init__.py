"""Reconciliation (issue #16): compare a whole Moodle site with what the CRM holds, report, repair.

`run.reconcile` pages through Moodle's state (`moodle_state`) and the CRM's records (`crm_state`), has
`compare` decide what the CRM should hold (the connector's own mapping: one rule) and what differs, and
stores the report (`report`); `repair` re-applies the owning side's state through the normal ordered path.
"""
