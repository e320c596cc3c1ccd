"""core_user_*: user/externallib.php."""

from __future__ import annotations

import hashlib
import re

from moodle_sandbox import model
from moodle_sandbox.errors import InvalidParameter, MoodleException
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Multiple, Single, Value, default, optional

AUTHS = {"manual", "nologin", "email", "ldap", "oauth2", "shibboleth", "cas", "db", "lti", "none"}
INTERNAL_AUTHS = {"manual", "email", "none"}
# validate_email() (lib/moodlelib.php): local part and a dotted domain.
EMAIL = re.compile(r"^[a-z0-9!#$%&'*+\\/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+\\/=?^_`{|}~-]+)*"
                   r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", re.I)
CUSTOM_FIELDS = Multiple(Single({"type": Value("alphanumext"), "value": Value("raw")}))
PREFERENCES = Multiple(Single({"type": Value("raw"), "value": Value("raw")}))
PROFILE = {  # fields create and update share, with their core_user property types
    "firstname": "notags", "lastname": "notags", "email": "raw_trimmed", "maildisplay": "int", "city": "text",
    "country": "alpha", "timezone": "timezone", "description": "raw", "firstnamephonetic": "notags",
    "lastnamephonetic": "notags", "middlename": "notags", "alternatename": "notags", "interests": "text",
    "idnumber": "raw", "institution": "text", "department": "text", "phone1": "notags", "phone2": "notags",
    "address": "text", "lang": "lang", "calendartype": "plugin", "theme": "theme", "mailformat": "int",
}


def valid_email(email: str) -> bool:
    return bool(EMAIL.match(email)) and len(email) <= 254


def _same_email(call: Call, email: str, other_than: int | None = None) -> bool:
    return any(u["email"].lower() == email.lower() and u["id"] != other_than for u in call.store.all("user"))


def _save_custom_fields(call: Call, user: dict, fields: list[dict]) -> None:
    defined = {f["shortname"] for f in call.store.all("user_info_field")}
    for field in fields or []:
        if field["type"] in defined:  # profile_save_data() ignores unknown fields
            user.setdefault("customfields", {})[field["type"]] = field["value"]


@function("core_user_create_users", users=Multiple(Single({
    "createpassword": optional(Value("bool")), "username": Value("username"),
    "auth": default(Value("auth"), "manual"), "password": optional(Value("raw")),
    **{name: (Value(kind) if name in ("firstname", "lastname", "email") else optional(Value(kind)))
       for name, kind in PROFILE.items()},
    "customfields": optional(CUSTOM_FIELDS), "preferences": optional(PREFERENCES),
} | {"idnumber": default(Value("raw"), ""), "lang": default(Value("lang"), "en"),
     "calendartype": default(Value("plugin"), "gregorian")})))
def create_users(call: Call, params: dict):
    created = []
    for new in params["users"]:
        for name in ("username", "firstname", "lastname"):
            if new[name].strip() == "":
                raise InvalidParameter(f"The field {name} cannot be blank")
        if call.store.first("user", username=new["username"]):
            raise InvalidParameter(f"Username already exists: {new['username']}")
        if new["auth"] not in AUTHS:
            raise InvalidParameter(f"Invalid authentication type: {new['auth']}")
        if new["auth"] in INTERNAL_AUTHS and not new.get("password") and not new.get("createpassword"):
            raise InvalidParameter("Invalid password: you must provide a password, or set createpassword.")
        if not valid_email(new["email"]):
            raise InvalidParameter(f"Email address is invalid: {new['email']}")
        if _same_email(call, new["email"]):
            raise InvalidParameter(f"Email address already exists: {new['email']}")
        user = model.complete("user", {k: v for k, v in new.items()
                                       if k not in ("customfields", "preferences", "createpassword")}
                              | {"timecreated": call.now, "timemodified": call.now})
        user["password"] = _hash(user.get("password") or "")
        _save_custom_fields(call, user, new.get("customfields"))
        user = call.store.insert("user", user)
        created.append({"id": user["id"], "username": user["username"]})
    return created


def _hash(password: str) -> str:
    """Only so that no plain password is stored; the sandbox never checks one."""
    return hashlib.sha256(password.encode()).hexdigest() if password else ""


@function("core_user_update_users", users=Multiple(Single({
    "id": Value("int"), "username": optional(Value("username")), "auth": optional(Value("auth")),
    "suspended": optional(Value("int")), "password": optional(Value("raw")),
    **{name: optional(Value(kind)) for name, kind in PROFILE.items()},
    "userpicture": optional(Value("int")),
    "customfields": optional(CUSTOM_FIELDS), "preferences": optional(PREFERENCES)})))
def update_users(call: Call, params: dict):
    warnings = []
    for change in params["users"]:
        try:
            _update_user(call, change)
        except MoodleException as exc:  # Moodle turns each user's failure into a warning
            warnings.append({"item": "user", "itemid": change["id"], "warningcode": exc.errorcode,
                             "message": exc.message})
    return {"warnings": warnings}


def _update_user(call: Call, change: dict) -> None:
    user = call.store.get("user", change["id"])
    if user is None:
        raise MoodleException("invaliduserid", "Invalid user ID", "Invalid user ID")
    if user.get("siteadmin") and user["id"] != call.user["id"]:
        raise MoodleException("usernotupdatedadmin", "Cannot update admin accounts", "Cannot update admin accounts")
    if user["deleted"]:
        raise MoodleException("usernotupdateddeleted", "Cannot update deleted accounts",
                              "Cannot update deleted accounts")
    if user["username"] == "guest":
        raise MoodleException("usernotupdatedguest", "Cannot update guest account", "Cannot update guest account")
    if "email" in change and change["email"] != user["email"]:
        if not valid_email(change["email"]):
            raise MoodleException("useremailinvalid", "Invalid email address", "Invalid email address")
        if _same_email(call, change["email"], other_than=user["id"]):
            raise MoodleException("useremailduplicate", "Duplicate address", "Duplicate email address")
    if "username" in change and change["username"] != user["username"] and call.store.first(
            "user", username=change["username"]):
        raise MoodleException("usernotupdatedexists", "Username already exists", "Username already exists")
    for name, value in change.items():
        if name == "password":
            user["password"] = _hash(value)
        elif name not in ("customfields", "preferences", "userpicture", "id"):
            user[name] = value
    _save_custom_fields(call, user, change.get("customfields"))
    user["timemodified"] = call.now
    call.store.update("user", user)


@function("core_user_get_users", criteria=Multiple(Single({"key": Value("alpha"), "value": Value("raw")})))
def get_users(call: Call, params: dict):
    warnings, tests, used = [], [], set()
    for criterion in params["criteria"]:
        key, value = criterion["key"], criterion["value"]
        if key in used:
            raise MoodleException("keyalreadyset", "Key already set", f"The key {key} can only be sent once")
        used.add(key)
        if key in ("id", "idnumber", "username", "auth"):
            tests.append(lambda u, k=key, v=value: str(u.get(k)) == v)
        elif key in ("email", "firstname", "lastname"):
            pattern = _like(value)
            tests.append(lambda u, k=key, p=pattern: bool(p.fullmatch(u.get(k) or "")))
        else:
            warnings.append({"item": key, "warningcode": "invalidfieldparameter",
                             "message": f"The search key '{key}' is not supported, look at the web service documentation"})
    users = [u for u in call.store.all("user") if not u["deleted"] and all(t(u) for t in tests)]
    return {"users": [model.user_details(call, u) for u in users], "warnings": warnings}


def _like(value: str) -> re.Pattern:
    """SQL LIKE, case-insensitive, as $DB->sql_like(..., false) builds it."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value]
    return re.compile("".join(parts), re.I | re.S)


@function("core_user_get_users_by_field", field=Value("alpha"), values=Multiple(Value("raw")))
def get_users_by_field(call: Call, params: dict):
    field = params["field"]
    if field not in ("id", "idnumber", "username", "email"):
        raise InvalidParameter("The search field '" + field + "' is not supported, look at the web service documentation")
    wanted = set(params["values"])
    if field == "email":
        wanted = {v.lower() for v in wanted}
    # Deleted users are found too (anonymised), as the recorded site shows for id 5.
    found = [u for u in call.store.all("user")
             if (str(u.get(field)).lower() if field == "email" else str(u.get(field))) in wanted]
    return [model.user_details(call, u) for u in found]


@function("core_user_delete_users", userids=Multiple(Value("int")))
def delete_users(call: Call, params: dict):
    for user_id in params["userids"]:
        user = call.store.get("user", user_id)
        if user is None or user["deleted"]:
            raise MoodleException("invaliduserid", "Invalid user ID", None)
        if user.get("siteadmin") or user["username"] == "guest":
            raise MoodleException("useradminodelete", "Admin users cannot be deleted")
        for instance in call.store.all("enrol"):
            model.unenrol(call, instance, user["id"])
        # delete_user() keeps the row, anonymised: the address's md5 and a username that cannot log in
        user.update(deleted=1, username=f"{user['email']}.{call.now}", email=hashlib.md5(user["email"].encode()).hexdigest(),
                    idnumber="", customfields={}, timemodified=call.now)
        call.store.update("user", user)
        for member in call.store.find("cohort_members", userid=user["id"]):
            call.store.delete("cohort_members", member["id"])
    return None

