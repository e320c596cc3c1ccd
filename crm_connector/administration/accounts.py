"""The Moodle user a Contact is enrolled as: its own, the one Moodle user with its e-mail, or a new one.

Finding is done before any Moodle write (`find`), creating after every check has passed (`create`).
A new account's username is the e-mail address lower-cased; its authentication is MOODLE_NEW_USER_AUTH:
`manual` asks Moodle to create a password and e-mail the learner a link to set it, any other method (the
site's single sign-on) needs none. The identity found or made is written back to the Contact
(moodle_site_id_c, moodle_user_id_c, moodle_username_c) and to the id map (`user:<id>` → the Contact), so
Moodle → CRM updates this Contact and never creates a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_connector.administration.results import Refused
from crm_connector.moodle import InvalidParameter
from crmsync.models import CrmRecord, Tombstone

# What Moodle accepts as an e-mail address is its own validate_email(); this only catches what is no address.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Account:
    contact_id: str
    user_id: int | None  # None: to be created
    username: str
    new_user: dict | None = None  # core_user_create_users' user, when it is to be created
    on_contact: bool = False  # the Contact names this user already


def find(work, contact: dict) -> Account:
    """The Contact's Moodle user on this site, or what creating one takes; Refused for what cannot be."""
    site_of, user_of = contact.get("moodle_site_id_c") or "", str(contact.get("moodle_user_id_c") or "")
    name = _name(contact)
    if user_of and site_of not in ("", work.site_id):
        raise Refused(f"{name} is the learner of another Moodle site ({site_of}); this connector enrols people "
                      f"in Moodle site {work.site_id} only")
    if user_of:
        user_id = int(user_of) if user_of.isdigit() else 0
        found = [u for u in work.moodle.get_users_by_field("id", [user_id]) if _live(u)]
        if not found:
            raise Refused(f"{name}'s Moodle user {user_of} is not in Moodle any more (deleted there?): clear the "
                          "Contact's Moodle user id to have a new account made, or correct it")
        return _checked(work, Account(contact["id"], user_id, found[0].get("username", ""), on_contact=True))
    email = (contact.get("email1") or "").strip()
    if not EMAIL.match(email):
        raise Refused(f"{name} has no valid e-mail address: Moodle needs one to find or create their account")
    matches = [u for u in work.moodle.get_users_by_field("email", [email])
               if _live(u) and str(u.get("email", "")).lower() == email.lower()]
    if len(matches) > 1:
        raise Refused(f"{len(matches)} Moodle users have {name}'s e-mail address: set the Contact's Moodle user "
                      "id to the right one")
    if matches:
        return _checked(work, Account(contact["id"], int(matches[0]["id"]), matches[0].get("username", "")))
    username = email.lower()
    if work.moodle.get_users_by_field("username", [username]):
        raise Refused(f"Moodle has a user named {username} with another e-mail address: set the Contact's Moodle "
                      "user id to that user, or correct the e-mail address")
    first, last = (contact.get("first_name") or "").strip(), (contact.get("last_name") or "").strip()
    if not (first and last):
        raise Refused(f"{name} needs a first and a last name: Moodle requires both for a new account")
    auth = work.config.moodle_new_user_auth
    new_user = {"username": username, "email": email, "firstname": first, "lastname": last, "auth": auth}
    if auth == "manual":
        new_user["createpassword"] = 1  # Moodle e-mails the learner a link to set their password
    return Account(contact["id"], None, username, new_user)


def _live(user: dict) -> bool:
    """core_user_get_users_by_field answers deleted users too, with no `deleted` field: Moodle's delete_user()
    replaces their e-mail address by a hash (the recorded site's user 5), so an address is what shows it."""
    return "@" in str(user.get("email", ""))


def _checked(work, account: Account) -> Account:
    """A Moodle user another Contact stands for is not linked to a second one (no duplicate learner)."""
    row = work.session.get(CrmRecord, (work.site_id, f"user:{account.user_id}"))
    if row is not None and not row.linked and row.tombstone is None and row.crm_id != account.contact_id:
        raise Refused(f"Moodle user {account.user_id} is already the learner of another Contact ({row.crm_id}): "
                      "enrol that Contact, or merge the two")
    return account


def create(work, account: Account) -> int:
    """Create the Moodle user (if it is to be) and write the identity back; the user id."""
    if account.user_id is None:
        try:
            [created] = work.write_moodle(work.moodle.create_users, [account.new_user])
        except InvalidParameter as exc:
            raise Refused("Moodle refused to create the account (its username or e-mail address is taken or "
                          "invalid): correct the Contact's e-mail address", exc.errorcode) from None
        account.user_id = int(created["id"])
        _remember(work, account)
        work.session.commit()  # Moodle's user.created may arrive at once: it must find this Contact
    else:
        _remember(work, account)
    if account.on_contact:
        return account.user_id
    work.write_crm(work.crm.update, "Contacts", account.contact_id, {
        "moodle_site_id_c": work.site_id, "moodle_user_id_c": str(account.user_id),
        "moodle_username_c": account.username})
    return account.user_id


def _remember(work, account: Account) -> None:
    key = f"user:{account.user_id}"
    row = work.session.get(CrmRecord, (work.site_id, key))
    if row is None:
        work.session.add(CrmRecord(site_id=work.site_id, entity_key=key, crm_module="Contacts",
                                   crm_id=account.contact_id, content_hash=None, incarnation=0))
    elif row.tombstone == Tombstone.DELETED or row.linked:
        row.crm_id, row.tombstone, row.linked, row.content_hash = account.contact_id, None, False, None
    work.session.flush()


def _name(contact: dict) -> str:
    full = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    return full or "The Contact"
