"""Carry out `Write`s against SuiteCRM idempotently: id map, content hash, create-or-update."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.orm import Session

from crm_connector.mapping import Write, record_id
from crm_connector.suitecrm import AlreadyExists, NotFound, SuiteCrmClient
from crmsync.config import Config
from crmsync.models import CrmRecord


def _content_hash(write: Write, parent_ids: dict[str, str]) -> str:
    content = json.dumps([write.module, write.attributes, parent_ids], sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


class CrmWriter:
    """Applies the writes of one message; every CRM call it saves is one the CRM does not have to make."""

    def __init__(self, session: Session, crm: SuiteCrmClient, config: Config, site_id: str):
        self.session, self.crm, self.config, self.site_id = session, crm, config, site_id
        self.crm_writes = 0

    def apply(self, writes: list[Write]) -> None:
        for write in writes:
            if write.delete:
                self._delete(write)
            else:
                self._upsert(write)

    def crm_id(self, module: str, key: str) -> str:
        """The CRM record of a Moodle entity: from the id map, an existing Contact, or its deterministic id."""
        known = self.session.get(CrmRecord, (self.site_id, key))
        if known is not None:
            return known.crm_id
        if module == "Contacts":
            found = self._existing_contact(key)
            if found:
                return found
        return record_id(self.site_id, key)

    def _existing_contact(self, key: str) -> str | None:
        user_id = key.split(":")[1]
        for contact in self.crm.find("Contacts", {"moodle_user_id_c": user_id}, fields=["moodle_user_id_c"]):
            return contact["id"]
        return None

    def _remember(self, key: str, module: str, crm_id: str, content_hash: str | None) -> None:
        row = self.session.get(CrmRecord, (self.site_id, key))
        if row is None:
            self.session.add(CrmRecord(site_id=self.site_id, entity_key=key, crm_module=module, crm_id=crm_id,
                                       content_hash=content_hash))
        else:
            row.crm_id, row.crm_module, row.content_hash = crm_id, module, content_hash
        self.session.flush()

    def _upsert(self, write: Write) -> None:
        parent_ids = {attribute: self.crm_id(self._module_of(parent), parent) for attribute, parent in write.parents}
        content_hash = _content_hash(write, parent_ids)
        facet_row = self.session.get(CrmRecord, (self.site_id, write.hash_key))
        if facet_row is not None and facet_row.content_hash == content_hash:
            return  # the CRM already shows exactly this
        attributes = {**write.attributes, **parent_ids}
        crm_id = self.crm_id(write.module, write.key)
        record_known = self.session.get(CrmRecord, (self.site_id, write.key)) is not None
        if write.module == "Contacts" and not record_known and self.config.contact_match_by_email:
            crm_id = self._match_by_email(write) or crm_id
        self.crm_writes += 1
        if record_known:
            try:
                self.crm.update(write.module, crm_id, attributes)
            except NotFound:
                # Deleted in the CRM; its id can never be used again, so the CRM picks a new one.
                crm_id = self.crm.create(write.module, attributes)["id"]
        else:
            try:
                self.crm.create(write.module, attributes, record_id=crm_id)
            except AlreadyExists:
                self.crm.update(write.module, crm_id, attributes)
        if not write.facet:
            self._remember(write.key, write.module, crm_id, content_hash)
            return
        if not record_known:
            self._remember(write.key, write.module, crm_id, None)  # exists now; its owner's next write patches
        self._remember(write.hash_key, write.module, crm_id, content_hash)

    def _match_by_email(self, write: Write) -> str | None:
        email = write.attributes.get("email1")
        if not email:
            return None
        for contact in self.crm.find("Contacts", {"email1": email}, fields=["email1", "moodle_user_id_c"]):
            if not contact.get("moodle_user_id_c"):
                return contact["id"]
        return None

    def _delete(self, write: Write) -> None:
        row = self.session.get(CrmRecord, (self.site_id, write.key))
        crm_id = row.crm_id if row else record_id(self.site_id, write.key)
        self.crm_writes += 1
        try:
            self.crm.delete(write.module, crm_id)
        except NotFound:
            pass  # already gone: the wanted state
        if row is not None:
            self.session.delete(row)
            self.session.flush()

    @staticmethod
    def _module_of(key: str) -> str:
        kind = key.split(":")[0]
        return {"user": "Contacts", "course": "mdl_Courses", "enrolment": "mdl_Enrolments"}[kind]
