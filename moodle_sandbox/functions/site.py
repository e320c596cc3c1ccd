"""core_webservice_get_site_info: webservice/classes/external/get_site_info.php (4.3)."""

from __future__ import annotations

from moodle_sandbox import model
from moodle_sandbox.functions import REGISTRY, Call, function
from moodle_sandbox.params import Multiple, Value, default


@function("core_webservice_get_site_info", serviceshortnames=default(Multiple(Value("alpha")), []))
def get_site_info(call: Call, params: dict):
    config, user = call.config, call.user
    functions = []
    for name in call.user["service"]["functions"]:
        registered = REGISTRY.get(name)
        functions.append({"name": name, "version": (registered and registered.version) or config["version"]})
    return {
        "sitename": config["sitename"], "username": user["username"], "firstname": user["firstname"],
        "lastname": user["lastname"], "fullname": model.fullname(user), "lang": user["lang"], "userid": user["id"],
        "siteurl": config["siteurl"], "userpictureurl": model.picture_urls(call)["profileimageurl"],
        "functions": functions, "downloadfiles": 0, "uploadfiles": 0, "release": config["release"],
        "version": config["version"], "mobilecssurl": "", "advancedfeatures": config["advancedfeatures"],
        "usercanmanageownfiles": True, "userquota": 0, "usermaxuploadfilesize": -1, "userhomepage": 1,
        "userprivateaccesskey": user.get("privateaccesskey", ""), "siteid": 1,
        "sitecalendartype": config["calendartype"], "usercalendartype": config["calendartype"],
        "userissiteadmin": bool(user.get("siteadmin")), "theme": config["theme"], "limitconcurrentlogins": 0,
    }
