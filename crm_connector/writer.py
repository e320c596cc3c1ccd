"""Carry out `Write`s against SuiteCRM idempotently: id map, content hash, create-or-update, tombstones."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm_connector.mapping import NEWEST_WINS, MappingError, Write, record_id
from crm_connector.suitecrm import AlreadyExists, NotFound, SuiteCrmClient
from crmsync.config import Config
from crmsync.models import CrmRecord, Tombstone


class ParentMissing(Exception):
    """A record links to a parent (the learner's Contact) that the CRM does not hold yet: wait for it."""

    def __init__(self, parent_key: str):
        super().__init__(f"waiting for {parent_key} to reach the CRM")
        self.parent_key = parent_key


class ParentGone(Exception):
    """The parent was deleted or its learner withdrew consent: nothing more is written about it."""


def _epoch(name: str, crm_time: str) -> int | None:
    if not crm_time:
        return None
    try:
        return int(datetime.strptime(crm_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise MappingError(f"{name} must be a time written as 'Y-m-d H:i:s'") from None


def _content_hash(write: Write, parent_ids: dict[str, str]) -> str:
    return content_hash(write.module, write.attributes, parent_ids)


def content_hash(module: str, attributes: dict, parent_ids: dict[str, str] | None = None) -> str:
    """What a record's write is compared by: the CRM → Moodle direction recomputes a Contact's after it wrote
    the CRM's values to Moodle, so Moodle's echo of them finds the CRM showing them already (no CRM write)."""
    content = json.dumps([module, attributes, parent_ids or {}], sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


class CrmWriter:
    """Applies the writes of one message; every CRM call it saves is one the CRM does not have to make.

    `before_write` runs before every create, update and delete: the job's fencing check that it still
    holds the subject. `force` ignores the content hashes (the CRM may not show what they say).
    """

    def __init__(self, session: Session, crm: SuiteCrmClient, config: Config, site_id: str,
                 before_write: Callable[[], None] = lambda: None, force: bool = False):
        self.session, self.crm, self.config, self.site_id = session, crm, config, site_id
        self.before_write, self.force = before_write, force
        self.crm_writes = 0
        # What a concurrent job may have changed under this one (cascade.to_relink, after the commit): the
        # CRM ids of the parents these writes linked to, and the records this job created anew.
        self.parents_used: dict[str, str] = {}
        self.recreated: list[str] = []

    def apply(self, writes: list[Write]) -> None:
        for write in writes:
            if write.delete:
                self._delete(write)
            else:
                self._upsert(write)

    def _row(self, key: str) -> CrmRecord | None:
        return self.session.get(CrmRecord, (self.site_id, key))

    def _write(self, call, *args):
        self.before_write()
        self.crm_writes += 1
        return call(*args)

    def _parent_id(self, parent_key: str) -> str:
        """The CRM id of a parent record that exists now; raises when there is none to link to."""
        row = self._row(parent_key)
        if row is None:
            if parent_key.startswith("user:"):
                found = self._existing_contact(parent_key)
                if found:
                    self.parents_used[parent_key] = found
                    return found
            raise ParentMissing(parent_key)
        if row.tombstone in (Tombstone.DELETED, Tombstone.WITHDRAWN):
            raise ParentGone(f"{parent_key} was removed from the CRM ({row.tombstone})")
        self.parents_used[parent_key] = row.crm_id
        return row.crm_id

    def _existing_contact(self, key: str, site_url: str | None = None) -> str | None:
        """The Contact of this site's Moodle user: found by (site id, user id); one written before schema
        1.1.0 has no site id and is claimed when it names this site's URL (the write then adds the id)."""
        user_id = key.split(":")[1]
        # One read for both (a first sync of every learner pays it): this user id's Contacts of any site.
        found = list(self.crm.find("Contacts", {"moodle_user_id_c": user_id},
                                   fields=["moodle_site_id_c", "moodle_user_id_c", "moodle_site_c"]))
        for contact in found:
            if contact.get("moodle_site_id_c") == self.site_id:
                return contact["id"]
        if site_url:
            for contact in found:
                if not contact.get("moodle_site_id_c") and contact.get("moodle_site_c") == site_url:
                    return contact["id"]
        return None

    def _remember(self, key: str, module: str, crm_id: str, content_hash: str | None, write: Write,
                  incarnation: int = 0, tombstone: str | None = None, linked: bool = False) -> None:
        row = self._row(key)
        if row is None:
            row = CrmRecord(site_id=self.site_id, entity_key=key, crm_module=module, crm_id=crm_id)
            self.session.add(row)
        row.crm_id, row.crm_module, row.content_hash = crm_id, module, content_hash
        row.incarnation, row.tombstone, row.linked = incarnation, tombstone, linked
        if module == "Contacts" and not write.facet:
            row.attributes = write.attributes if content_hash else None
        for name, value in write.scope:
            setattr(row, name, value)
        self.session.flush()

    def _upsert(self, write: Write) -> None:
        record = self._row(write.key)
        if record is not None and record.tombstone in (Tombstone.ANONYMISED, Tombstone.WITHDRAWN):
            return  # an anonymised person, or one who withdrew consent, is never written back
        if record is not None and record.linked and not record.tombstone:
            if write.ends_link:
                self._unlink(record, write.tombstone)
            return  # another site's learner owns the Contact: only it writes it
        if (write.only_if_exists or write.facet) and record is not None and record.tombstone:
            return  # only the record's owner re-creates a deleted record, with its whole state
        if write.only_if_exists and record is None and not self._held_without_id_map_row(write):
            if write.tombstone or write.bury_if_absent:
                self._bury(write)
            return
        write, newest = self._newest_only(write)
        if write.facet and not write.attributes:
            return  # all it said is older than what the CRM shows
        write = replace(write, attributes={**write.attributes, self._site_field(write.module): self.site_id})
        parent_ids = {attribute: self._parent_id(parent) for attribute, parent in write.parents}
        content_hash = _content_hash(write, parent_ids)
        live = record is not None and not record.tombstone
        facet_row = self._row(write.hash_key) if write.facet else record
        if live and not self.force and facet_row is not None and facet_row.content_hash == content_hash:
            return  # the CRM already shows exactly this
        attributes = {**write.attributes, **parent_ids}
        if live:
            crm_id, incarnation = record.crm_id, record.incarnation
            sent = attributes if self.force else {k: v for k, v in attributes.items() if k not in write.keep}
            try:
                self._write(self.crm.update, write.module, crm_id, sent)
            except NotFound:
                crm_id, incarnation = self._recreate(write, attributes, incarnation + 1)  # deleted by a CRM user
        elif record is not None:
            crm_id, incarnation = self._recreate(write, attributes, record.incarnation + 1)
        else:
            incarnation = 0
            crm_id, linked = record_id(self.site_id, write.key), False
            if write.module == "Contacts":
                found = self._existing_contact(write.key, write.attributes.get("moodle_site_c"))
                if found:
                    crm_id = found
                elif self.config.contact_match_by_email:
                    crm_id, linked = self._match_by_email(write) or (crm_id, False)
            if linked:
                self._remember(write.key, write.module, crm_id, None, write, linked=True)
                return
            self._create_or_update(write.module, crm_id, attributes)
        renewed = not live or incarnation != record.incarnation
        if renewed and record is not None:
            self._forget_facets(write.key)
            self.recreated.append(write.key)
        if write.tombstone:
            self._release_links(crm_id)
        if not write.facet:
            self._remember(write.key, write.module, crm_id, content_hash, write, incarnation, write.tombstone)
        else:
            record_hash = None if renewed else record.content_hash
            self._remember(write.key, write.module, crm_id, record_hash, write, incarnation, write.tombstone)
            self._remember(write.hash_key, write.module, crm_id, content_hash, write, incarnation)
        self._raise_marks(write, crm_id, newest)

    @staticmethod
    def _site_field(module: str) -> str:
        """Every record says which Moodle site it belongs to: written here, so no mapping can leave it out."""
        return "moodle_site_id_c" if module == "Contacts" else "moodle_site_id"

    def _mark_key(self, key: str, order_field: str) -> str:
        return f"{key}#newest:{order_field}"

    def _newest_only(self, write: Write) -> tuple[Write, dict[str, int]]:
        """The write without the field groups (NEWEST_WINS) whose Moodle time is older than the newest one
        written, whichever subject wrote it; and the times of the groups it keeps."""
        if write.module != "Contacts":
            return write, {}
        attributes, newest = dict(write.attributes), {}
        for order_field, group in NEWEST_WINS.items():
            if order_field not in attributes:
                continue
            mark = self._row(self._mark_key(write.key, order_field))
            high_water = mark.high_water if mark is not None else None
            when = _epoch(order_field, attributes[order_field])
            if high_water is not None and (when is None or when < high_water):
                for name in group:
                    attributes.pop(name, None)
            elif when is not None:
                newest[order_field] = when
        return replace(write, attributes=attributes), newest

    def _raise_marks(self, write: Write, crm_id: str, newest: dict[str, int]) -> None:
        for order_field, when in newest.items():
            key = self._mark_key(write.key, order_field)
            mark = self._row(key)
            if mark is None:
                mark = CrmRecord(site_id=self.site_id, entity_key=key, crm_module=write.module, crm_id=crm_id,
                                 content_hash=None, incarnation=0)
                self.session.add(mark)
            mark.crm_id, mark.high_water = crm_id, max(when, mark.high_water or when)
        self.session.flush()

    def _unlink(self, row: CrmRecord, tombstone: str | None) -> None:
        """This site's learner is gone: let go of the Contact another site owns, writing nothing to it. One who
        was anonymised or withdrew consent is never written again, and their records no longer attach."""
        frozen = tombstone in (Tombstone.ANONYMISED, Tombstone.WITHDRAWN)
        row.tombstone, row.linked, row.content_hash = (Tombstone.WITHDRAWN if frozen else Tombstone.DELETED,
                                                       False, None)
        self.session.flush()

    def _release_links(self, crm_id: str) -> None:
        """The owner deleted or anonymised the Contact: other sites' learners linked to it find their own."""
        self.session.execute(delete(CrmRecord).where(CrmRecord.crm_id == crm_id, CrmRecord.linked.is_(True)))

    def _recreate(self, write: Write, attributes: dict, incarnation: int) -> tuple[str, int]:
        """SuiteCRM never reuses a deleted id: the entity comes back under its next incarnation's id (and
        other sites' learners linked to the old one follow it)."""
        crm_id = record_id(self.site_id, write.key, incarnation)
        self._create_or_update(write.module, crm_id, attributes)
        row = self._row(write.key)
        if row is not None and write.module == "Contacts":
            self.session.execute(update(CrmRecord).where(CrmRecord.crm_id == row.crm_id, CrmRecord.linked.is_(True))
                                 .values(crm_id=crm_id).execution_options(synchronize_session=False))
        return crm_id, incarnation

    def _create_or_update(self, module: str, crm_id: str, attributes: dict) -> None:
        try:
            self._write(self.crm.create, module, attributes, crm_id)
        except AlreadyExists:
            # Created by an earlier try whose result was lost; its id is ours.
            self._write(self.crm.update, module, crm_id, attributes)

    def _match_by_email(self, write: Write) -> tuple[str, bool] | None:
        """(Contact id, linked): a Contact with this e-mail and no Moodle identity becomes this learner's; one
        that is another site's learner's is linked to (the same person on two sites), never taken over."""
        email = write.attributes.get("email1")
        if not email:
            return None
        found = list(self.crm.find("Contacts", {"email1": email},
                                   fields=["email1", "moodle_user_id_c", "moodle_site_id_c", "moodle_site_c"]))
        for contact in found:
            if not contact.get("moodle_user_id_c"):
                return contact["id"], False
        for contact in found:
            owner = contact.get("moodle_site_id_c")
            if (owner and owner != self.site_id) or (
                    not owner and contact.get("moodle_site_c") != write.attributes.get("moodle_site_c")):
                return contact["id"], True
        return None

    def _held_without_id_map_row(self, write: Write) -> bool:
        """A learner's Contact the CRM holds from before this id map knew it (only worth a look for them)."""
        return (write.bury_if_absent and write.module == "Contacts"
                and self._existing_contact(write.key, write.attributes.get("moodle_site_c")) is not None)

    def _bury(self, write: Write) -> None:
        """A tombstone for an entity the CRM never held (one never to be anonymised is never to be written)."""
        tombstone = Tombstone.WITHDRAWN if write.tombstone == Tombstone.ANONYMISED else write.tombstone
        self.session.add(CrmRecord(site_id=self.site_id, entity_key=write.key, crm_module=write.module,
                                   crm_id=record_id(self.site_id, write.key), content_hash=None,
                                   tombstone=tombstone or Tombstone.DELETED, incarnation=0))
        self.session.flush()

    def _forget_facets(self, key: str) -> None:
        """A deleted or re-created record holds none of the facets written to its former self."""
        self.session.execute(delete(CrmRecord).where(CrmRecord.site_id == self.site_id,
                                                     CrmRecord.entity_key.like(f"{key}#%")))

    def _delete(self, write: Write) -> None:
        if write.key.endswith(":*"):
            prefix = write.key[:-1]
            keys = self.session.scalars(select(CrmRecord.entity_key).where(
                CrmRecord.site_id == self.site_id, CrmRecord.entity_key.like(f"{prefix}%"),
                CrmRecord.entity_key.not_like("%#%"), CrmRecord.tombstone.is_(None))).all()
            for key in keys:
                self._delete(replace(write, key=key))
            return
        row = self._row(write.key)
        if row is None:
            self._bury(write)  # never written: nothing to delete, but its children must know it is gone
            return
        if row.linked and not row.tombstone:
            self._unlink(row, write.tombstone)  # another site's learner owns the Contact: it stays
            return
        if row.tombstone in (Tombstone.DELETED, Tombstone.WITHDRAWN):
            if write.tombstone and row.tombstone != write.tombstone:
                row.tombstone = write.tombstone
            return  # gone already: the wanted state
        try:
            self._write(self.crm.delete, write.module, row.crm_id)
        except NotFound:
            pass  # deleted in the CRM already
        row.tombstone, row.content_hash = write.tombstone or Tombstone.DELETED, None
        self._forget_facets(write.key)
        self._release_links(row.crm_id)
        self.session.flush()
