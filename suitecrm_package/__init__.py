"""Builds the SuiteCRM Module Loader package from the shared CRM schema definition."""
