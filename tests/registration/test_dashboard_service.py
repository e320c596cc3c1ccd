"""The staff dashboard: refused without an admin token; with one, per programme the registrations by
status and the fill rate against capacity."""

from __future__ import annotations

from lxml import html as lxml_html

from tests.registration.conftest import STAFF_TOKEN, SUMMER_ANSWERS


def test_staff_pages_need_the_admin_token(service):
    public = service.visitor()
    assert public.get("/staff/", headers={"Accept": "application/json"}).status_code == 401
    assert public.get("/staff/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    redirected = public.get("/staff/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert redirected.status_code == 303 and redirected.headers["Location"].endswith("/staff/login")
    login = public.get("/staff/login")
    refused = public.post("/staff/login", {**public.hidden(login.text), "token": "wrong"})
    assert refused.status_code == 401 and "not valid" in refused.text
    signed_in = public.post("/staff/login", {**public.hidden(login.text), "token": STAFF_TOKEN})
    assert signed_in.status_code == 200 and "Registrations dashboard" in signed_in.text
    public.post("/staff/logout", public.hidden(signed_in.text))
    assert public.get("/staff/", headers={"Accept": "application/json"}).status_code == 401


def test_removing_a_token_signs_out_who_signed_in_with_it(service):
    staff = service.visitor()
    login = staff.get("/staff/login")
    assert staff.post("/staff/login", {**staff.hidden(login.text), "token": STAFF_TOKEN}).status_code == 200
    assert staff.get("/staff/", headers={"Accept": "application/json"}).status_code == 200
    service.app.config["CRMSYNC"] = service.config.replace(admin_api_tokens=("a-new-token-0123456789",))
    assert staff.get("/staff/", headers={"Accept": "application/json"}).status_code == 401


def test_dashboard_shows_status_counts_and_fill_rate(service):
    person = service.visitor()
    person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "a@example.org"})
    person.follow_form(service.inbox.link("a@example.org", "confirm"))
    service.visitor().register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "b@example.org"})
    service.visitor().register("Russian for Beginners", {**SUMMER_ANSWERS, "email": "c@example.org"})
    page = service.visitor().get("/staff/", headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
    assert page.status_code == 200
    rows = {}
    for row in lxml_html.fromstring(page.text).iter("tr"):
        cells = [c.text_content().strip() for c in row]
        rows[cells[0]] = cells[1:]
    header = rows.pop("Programme")
    data = dict(zip(header, rows["Summer School — Data Analysis with Python open"], strict=True))
    assert (data["unconfirmed"], data["submitted"], data["accepted"]) == ("1", "1", "0")
    assert (data["Taken / capacity"], data["Fill rate"]) == ("2 / 30", "7%")
    full = dict(zip(header, rows["Summer School — Russian for Beginners full"], strict=True))
    assert (full["Taken / capacity"], full["Fill rate"]) == ("1 / 1", "100%")
