"""Connector workers: apply Moodle events to SuiteCRM through its V8 API, and CRM changes back to Moodle."""
