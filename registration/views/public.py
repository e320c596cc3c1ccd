"""Public pages: the list of programmes, a programme's form, confirmation, previous answers, the PDF.

Handlers stay thin: the rules are in catalogue.py (capacity), forms.py (the declaration), registrations.py
(submission, confirmation), limits.py (abuse), tokens.py (links). Logs carry ids only, never an address
or an answer.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, abort, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError

from crmsync import resources
from crmsync.models import ProgrammeStatus, RegProgramme, RegRegistration, utcnow
from registration import catalogue, forms, i18n, jobs, limits, mailer, pdf, registrations, tokens
from registration.errors import page

log = logging.getLogger(__name__)
blueprint = Blueprint("public", __name__)
MINE = "mine"  # the session's list of the registrations made in this browser (their PDFs may be fetched)
MAGIC = "magic"  # the session's followed magic links: {project id: token hash}


def _public_url() -> str:
    """Base of the links e-mailed to people."""
    settings = resources.config()
    return settings.registration_public_url or f"http://{settings.registration_bind}"


def _refusal(reason: str) -> str:
    return {
        ProgrammeStatus.FULL: _("This programme is full: all its places are taken."),
        ProgrammeStatus.CLOSED: _("This programme is not open for registration now."),
        ProgrammeStatus.INACTIVE: _("This programme is not offered."),
    }.get(reason, _("This programme is not offered."))


def _rate_limited(what: str):
    log.info("registration: rate limit per %s reached", what)
    return page(429, _("Too many attempts"), _("Please wait an hour and try again."))


def _check_address() -> None:
    try:
        limits.check_address(resources.redis(), request.remote_addr or "unknown",
                             resources.config().registration_submissions_per_address)
    except RedisError as exc:  # the limits need Redis; registrations matter more than a missed count
        log.warning("registration: rate limit not checked, Redis unavailable: %s", exc.__class__.__name__)


def _check_email(email: str) -> None:
    try:
        limits.check_email(resources.redis(), email, resources.config().registration_submissions_per_email)
    except RedisError as exc:
        log.warning("registration: rate limit not checked, Redis unavailable: %s", exc.__class__.__name__)


def _remember(registration_id: str) -> None:
    session[MINE] = ([registration_id] + [r for r in session.get(MINE, []) if r != registration_id])[:10]


@blueprint.get("/")
def index():
    db = resources.session()
    try:
        offers = catalogue.offers(db)
        projects: dict = {}
        for offer in offers:
            projects.setdefault(offer.programme.project, []).append(offer)
        return render_template("index.html", projects=projects)
    finally:
        db.close()


@blueprint.get("/language/<code>")
def language(code: str):
    if code in i18n.LANGUAGES:
        session["lang"] = code
    target = request.args.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    return redirect(target, 303)


def _programme(db, programme_id: int) -> tuple[RegProgramme, catalogue.Offer]:
    programme = db.get(RegProgramme, programme_id)
    if programme is None:
        abort(404)
    taken = catalogue.capacity_taken(db, programme.id)
    return programme, catalogue.Offer(programme, taken, catalogue.status_of(programme, taken))


def _render_form(programme, offer, declaration, values, errors, status=200, notice=None):
    return render_template(
        "form.html", programme=programme, offer=offer, declaration=declaration, values=values, errors=errors,
        notice=notice, started=limits.started_token(resources.config().registration_secret_key),
        honeypot=limits.HONEYPOT, started_name=limits.STARTED, localised=forms.localised,
        lang=i18n.language()), status


@blueprint.get("/programmes/<int:programme_id>")
def form(programme_id: int):
    db = resources.session()
    try:
        programme, offer = _programme(db, programme_id)
        if offer.status != ProgrammeStatus.OPEN:
            return page(409 if offer.status == ProgrammeStatus.FULL else 404, programme.name, _refusal(offer.status))
        declaration = forms.load(programme.project.declaration, resources.config().registration_declarations_dir)
        email = registrations.verified_email(db, session.get(MAGIC, {}).get(str(programme.project_id)),
                                             programme.project_id)
        values = registrations.previous_answers(db, email, programme.project_id) if email else {}
        notice = _("We have filled in your previous answers. Please check them.") if values else None
        return _render_form(programme, offer, declaration, values, {}, notice=notice)
    finally:
        db.close()


@blueprint.post("/programmes/<int:programme_id>")
def submit(programme_id: int):
    config = resources.config()
    db = resources.session()
    try:
        programme, offer = _programme(db, programme_id)
        if offer.status != ProgrammeStatus.OPEN:
            log.info("registration: submission to programme %s refused: %s", programme_id, offer.status)
            return page(409, programme.name, _refusal(offer.status))
        declaration = forms.load(programme.project.declaration, config.registration_declarations_dir)
        project_name, programme_name = programme.project.name, programme.name
    finally:
        db.close()
    values = forms.parse(declaration, request.form)
    spam = limits.spam_reason(request.form, config.registration_secret_key, config.registration_min_fill_seconds)
    if spam == "honeypot":
        log.info("registration: submission to programme %s refused: spam trap (%s)", programme_id, spam)
        return page(400, _("Not sent"), _("Your submission looks automated and was not accepted."))
    if spam:
        log.info("registration: submission to programme %s refused: spam trap (%s)", programme_id, spam)
        notice = (_("That was quicker than a person can fill in this form. Please check your answers and send "
                    "the form again.") if spam == "too_fast" else
                  _("This form was opened too long ago. Please check your answers and send the form again."))
        return _render_form(programme, offer, declaration, values, {}, 400, notice)
    try:
        _check_address()
        errors = forms.validate(declaration, values, _, i18n.language())
        if errors:
            log.info("registration: submission to programme %s refused: %d invalid answers (%s)", programme_id,
                     len(errors), ", ".join(sorted(errors)))
            return _render_form(programme, offer, declaration, values, errors, 422)
        _check_email(values["email"])
    except limits.RateLimited as exc:
        return _rate_limited(exc.what)
    db = resources.session()
    try:
        submitted = registrations.submit(db, programme_id, declaration, values, i18n.language(),
                                         config.registration_confirm_hours)
        db.commit()
    except catalogue.ProgrammeUnavailable as exc:
        db.commit()  # the programme's refreshed status
        log.info("registration: submission to programme %s refused: %s", programme_id, exc.reason)
        return page(409, programme_name, _refusal(exc.reason))
    except registrations.AlreadyRegistered:
        db.rollback()
        log.info("registration: submission to programme %s refused: already registered", programme_id)
        return page(409, programme_name, _("This e-mail address is already registered for this programme."))
    finally:
        db.close()
    _remember(submitted.registration_id)
    link = _public_url() + url_for("public.confirm_page", token=submitted.token)
    try:
        mailer.send_confirmation(config, values["email"], i18n.language(), link, programme_name,
                                 config.registration_confirm_hours)
    except mailer.MailNotSent:
        return render_template("sent.html", registration_id=submitted.registration_id, mail_failed=True,
                               project=project_name), 503
    return redirect(url_for("public.sent"), 303)


@blueprint.get("/registrations/sent")
def sent():
    mine = session.get(MINE, [])
    return render_template("sent.html", registration_id=mine[0] if mine else None, mail_failed=False)


def _dead_confirmation_link():
    return page(404, _("This link does not work"),
                _("It was used already or has expired. If your registration is not confirmed, please "
                  "register again."))


@blueprint.get("/confirm/<token>")
def confirm_page(token: str):
    db = resources.session()
    try:
        if tokens.find(db, tokens.CONFIRM, token) is None:
            return _dead_confirmation_link()
        return render_template("confirm.html", token=token)
    finally:
        db.close()


@blueprint.post("/confirm/<token>")
def confirm(token: str):
    config = resources.config()
    db = resources.session()
    try:
        registration = registrations.confirm(db, token)
        if registration is None:
            db.rollback()
            return _dead_confirmation_link()
        registration_id, programme_name = registration.id, registration.programme.name
        db.commit()
    finally:
        db.close()
    try:
        jobs.enqueue_push(config, registration_id)
    except RedisError as exc:
        # Confirmed and stored; the periodic run (registration/schedule.py) queues what was not pushed.
        log.warning("registration %s: push to the CRM not queued now: %s", registration_id, exc.__class__.__name__)
    _remember(registration_id)
    return render_template("confirmed.html", registration_id=registration_id, programme=programme_name)


@blueprint.post("/programmes/<int:programme_id>/previous")
def ask_previous(programme_id: int):
    config = resources.config()
    email = " ".join((request.form.get("email") or "").split()).lower()
    db = resources.session()
    try:
        programme, _offer = _programme(db, programme_id)
        if not forms.re.fullmatch(forms.EMAIL_PATTERN, email) or len(email) > 255 or "\x00" in email:
            return page(422, _("Get my previous answers"), _("Please give an e-mail address such as name@example.org."))
        try:
            _check_address()
            _check_email(email)
        except limits.RateLimited as exc:
            return _rate_limited(exc.what)
        # The same answer whether or not the address registered before: the page tells nobody who did.
        if registrations.has_previous(db, email, programme.project_id):
            minutes = config.registration_magic_link_minutes
            token = tokens.issue(db, tokens.MAGIC, email, timedelta(minutes=minutes), project_id=programme.project_id)
            db.commit()
            link = _public_url() + url_for("public.previous_page", token=token, programme=programme_id)
            try:
                mailer.send_magic_link(config, email, i18n.language(), link, programme.project.name, minutes)
            except mailer.MailNotSent:
                return page(503, _("Get my previous answers"),
                            _("We could not send the e-mail just now. Please try again in a few minutes."))
        return page(200, _("Get my previous answers"),
                    _("If you registered for this project before, we have sent you an e-mail with a link. Open it "
                      "in this browser to have your answers filled in."))
    finally:
        db.close()


@blueprint.get("/previous/<token>")
def previous_page(token: str):
    db = resources.session()
    try:
        if tokens.find(db, tokens.MAGIC, token) is None:
            return page(404, _("This link does not work"), _("It was used already or has expired."))
        return render_template("previous.html", token=token, programme=request.args.get("programme", type=int))
    finally:
        db.close()


@blueprint.post("/previous/<token>")
def previous(token: str):
    config = resources.config()
    db = resources.session()
    try:
        row = tokens.use(db, tokens.MAGIC, token)
        if row is None:
            db.rollback()
            return page(404, _("This link does not work"), _("It was used already or has expired."))
        # The proof lasts a link's lifetime from now, in this browser only.
        row.expires_at = utcnow() + timedelta(minutes=config.registration_magic_link_minutes)
        project_id = row.project_id
        session[MAGIC] = {**session.get(MAGIC, {}), str(project_id): row.token_hash}
        db.commit()
        programme_id = request.form.get("programme", type=int)
        programme = db.get(RegProgramme, programme_id) if programme_id else None
        if programme is None or programme.project_id != project_id:
            return redirect(url_for("public.index"), 303)
        return redirect(url_for("public.form", programme_id=programme.id), 303)
    finally:
        db.close()


@blueprint.get("/registrations/<registration_id>.pdf")
def declaration_pdf(registration_id: str):
    if registration_id not in session.get(MINE, []):
        abort(404)
    db = resources.session()
    try:
        registration = db.get(RegRegistration, registration_id)
        if registration is None:
            abort(404)
        programme = registration.programme
        declaration = forms.load(programme.project.declaration, resources.config().registration_declarations_dir)
        body = pdf.declaration_pdf(resources.config().registration_font_dir, declaration, registration,
                                   programme, i18n.language(), _)
    finally:
        db.close()
    response = make_response(body)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="registration-{registration_id[:8]}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
