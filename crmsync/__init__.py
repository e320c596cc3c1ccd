"""Shared core of the Moodle ⇄ SuiteCRM sync: configuration, database, event contract and CLI."""
