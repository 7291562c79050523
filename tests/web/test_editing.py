"""Editing in the web UI: forms generated from the schemas, validation shown inline,
stale forms refused with what changed, and edit controls only for who may write
(both engines)."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from registry.errors import NotFound
from registry.records import reads, writes
from registry.records.kinds import KINDS, normalise_body
from registry.records.models import Entry
from tests.conftest import csrf_token
from tests.records.samples import SAMPLES, bound_sample

SCRIPT = "<script>alert('owned')</script>"
CHECKBOXES = {"uses", "covers"}  # lists of fixed choices: one checkbox each
ISO_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def form_fields(body: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The (name, value) pairs a user fills in to enter ``body`` in the web form."""
    pairs: list[tuple[str, str]] = []
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs += form_fields(value, f"{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                pairs += form_fields(item, f"{name}.{i}.")
        elif isinstance(value, list):
            if key in CHECKBOXES:
                pairs += [(name, str(v)) for v in value]
            else:
                pairs.append((name, "\n".join(value)))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif isinstance(value, str) and ISO_INSTANT.match(value):
            instant = dt.datetime.fromisoformat(value).astimezone(dt.UTC)
            pairs.append((f"{name}-date", instant.date().isoformat()))
            pairs.append((f"{name}-time", instant.strftime("%H:%M:%S")))
        else:
            pairs.append((name, str(value)))
    return pairs


def post(client, path: str, pairs: list[tuple[str, str]], token: str | None = None, **kw):
    data = [*pairs]
    if token is not None:
        data.append(("csrf_token", token))
    return client.post(path, data=MultiDict(data), **kw)


class Inputs(HTMLParser):
    """The form controls of a page and the ``for`` of its labels."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append({"tag": tag, **a})
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"])  # type: ignore[arg-type]


def controls(html: str) -> Inputs:
    parser = Inputs()
    parser.feed(html)
    return parser


class Submitted(HTMLParser):
    """The (name, value) pairs the entry form of a page submits. ``browser``: as a
    browser sends them (a textarea without the line break that opens it and with CRLF
    line breaks; a one-line input without line breaks; an e-mail address or URL also
    without surrounding whitespace); otherwise as the page shows them."""

    def __init__(self, browser: bool) -> None:
        super().__init__()
        self.browser = browser
        self.pairs: list[tuple[str, str]] = []
        self.in_form = False
        self.textarea: str | None = None  # the name of the textarea being read
        self.text = ""
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.in_form = "entry-form" in a.get("class", "")
        if not self.in_form:
            return
        if tag == "input" and a.get("type") != "file":
            kind = a.get("type", "text")
            if kind == "checkbox":
                if "checked" in a:
                    self.pairs.append((a["name"], a["value"]))
                return
            value = a.get("value", "")
            if self.browser and kind != "hidden":
                value = value.replace("\r", "").replace("\n", "")
                value = value.strip() if kind in ("email", "url") else value
            self.pairs.append((a["name"], value))
        elif tag == "textarea":
            self.textarea, self.text = a["name"], ""
        elif tag == "select":
            self.select, self.options = a["name"], []
        elif tag == "option":
            self.options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        elif tag == "textarea" and self.textarea is not None:
            text = self.text
            if self.browser:
                text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\n")
                text = text.replace("\n", "\r\n")
            self.pairs.append((self.textarea, text))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            chosen = [v for v, selected in self.options if selected] or [self.options[0][0]]
            self.pairs.append((self.select, chosen[0]))
            self.select = None


def submitted(html: str, browser: bool = True) -> list[tuple[str, str]]:
    parser = Submitted(browser)
    parser.feed(html)
    return parser.pairs


def form_path(kind: str, reference: str = "sys-1") -> str:
    if kind == "profile":
        return "/systems/new"
    return f"/systems/{reference}/entries/new?kind={kind}"


@pytest.fixture
def system(session, officer, profile):
    made, _ = writes.create_system(session, officer, profile, reason="Registered")
    session.commit()
    return made


def entries_of(session, kind: str) -> list[Entry]:
    session.expire_all()
    return list(session.query(Entry).filter(Entry.kind == kind))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_form_labels_every_input(client, login_as, system, kind):
    login_as("compliance_officer")
    response = client.get(form_path(kind))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    found = controls(html)
    assert found.controls
    unlabelled = [c for c in found.controls if c.get("id") not in found.labels]
    assert unlabelled == []
    names = {c.get("name") for c in found.controls}
    assert {"reason", "effective_from-date", "effective_from-time"} <= names
    assert "(required)" in html
    assert "style=" not in html and "<script" not in html


def test_each_kind_is_created_from_its_form(client, login_as, session):
    login_as("compliance_officer")
    token = csrf_token(client, "/systems/new")
    response = post(
        client,
        "/systems/new",
        [
            *form_fields(SAMPLES["profile"]),
            ("reason", "Registered from the form"),
            ("effective_from-date", "2025-01-15"),
            ("effective_from-time", "08:30"),
        ],
        token,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/systems/sys-1")
    assert "Registered system sys-1." in client.get("/systems/sys-1").get_data(as_text=True)
    sent = {"profile": SAMPLES["profile"]}
    for kind in SAMPLES:
        if kind == "profile":
            continue
        session.rollback()  # see what the requests committed
        sent[kind] = sample = bound_sample(session, reads.get_system(session, "sys-1"), kind)
        token = csrf_token(client, form_path(kind))
        response = post(client, form_path(kind), form_fields(sample), token)
        assert response.status_code == 302, (kind, response.get_data(as_text=True))
    session.rollback()
    state = reads.state_of(session, "sys-1")
    for kind, sample in sent.items():
        (item,) = state.of_kind(kind)
        assert item.body == normalise_body(kind, sample), kind
    profile = state.of_kind("profile")[0].version
    assert profile.reason == "Registered from the form"
    assert profile.effective_from == dt.datetime(2025, 1, 15, 8, 30, tzinfo=dt.UTC)


def test_effective_time_is_read_like_the_as_of_view(client, login_as, session):
    """A form's date and time make an instant by the one rule of registry.instants, as
    the as-of view's do: UTC unless the time names its offset (a client other than a
    browser may send one)."""
    login_as("compliance_officer")
    token = csrf_token(client, "/systems/new")
    response = post(
        client,
        "/systems/new",
        [
            *form_fields(SAMPLES["profile"]),
            ("reason", "Registered in Amsterdam"),
            ("effective_from-date", "2025-01-15"),
            ("effective_from-time", "08:30+01:00"),
        ],
        token,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    session.rollback()
    profile = reads.state_of(session, "sys-1").of_kind("profile")[0].version
    assert profile.effective_from == dt.datetime(2025, 1, 15, 7, 30, tzinfo=dt.UTC)


def test_invalid_input_is_shown_inline_and_nothing_is_stored(client, login_as, session, system):
    login_as("compliance_officer")
    path = form_path("owner")
    token = csrf_token(client, path)
    response = post(
        client,
        path,
        [
            ("person.name", SCRIPT),
            ("person.email", "not-an-email"),
            ("start", "2025-02-01"),
            ("end", "2025-01-01"),
            ("attachments.0.name", ""),
            ("attachments.1.name", "report.pdf"),
            ("attachments.1.sha256", "nothex"),
            ("reason", "typed reason"),
        ],
        token,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The form has errors: nothing was saved." in html
    # Each message next to its input, the input marked invalid and described by it.
    for name in ("role", "person-email", "attachments-1-sha256"):
        assert f'id="f-{name}-error"' in html, name
        assert re.search(
            rf'id="f-{name}"[^>]*aria-describedby="[^"]*f-{name}-error"[^>]*aria-invalid="true"',
            html,
        ), name
    assert 'href="#f-person-email"' in html  # the summary links to the input
    # What the user typed is kept, markup shown as text.
    assert 'value="not-an-email"' in html and 'value="report.pdf"' in html
    assert 'value="nothex"' in html and "typed reason</textarea>" in html
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in html
    assert entries_of(session, "owner") == []


def test_a_nul_character_is_refused_on_the_field_it_was_typed_in(client, login_as, session, system):
    """PostgreSQL keeps no NUL in text: a form refuses it next to its input, on both
    engines, and nothing is stored."""
    login_as("compliance_officer")
    path = form_path("owner")
    pairs = [
        (name, value + "\x00" if name == "person.name" else value)
        for name, value in form_fields(SAMPLES["owner"])
    ]
    response = post(client, path, pairs, csrf_token(client, path))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="f-person-name-error"' in html and "Contains a NUL character." in html
    assert entries_of(session, "owner") == []
    pairs = [
        (name, value + "\x00" if name == "name" else value)
        for name, value in form_fields({**SAMPLES["profile"], "reference": "sys-2"})
    ]
    response = post(client, "/systems/new", pairs, csrf_token(client, "/systems/new"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="f-name-error"' in html and "Contains a NUL character." in html
    session.rollback()
    with pytest.raises(NotFound):
        reads.get_system(session, "sys-2")


def test_a_bad_effective_time_is_refused_with_the_body_errors(client, login_as, session, system):
    login_as("compliance_officer")
    path = form_path("risk")
    token = csrf_token(client, path)
    pairs = [("title", "A risk"), ("effective_from-date", "2025-02-30")]
    response = post(client, path, pairs, token)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="f-effective_from-error"' in html and 'id="f-likelihood-error"' in html
    assert 'value="2025-02-30"' in html
    assert entries_of(session, "risk") == []


def test_duplicate_reference_is_a_conflict_on_the_field(client, login_as, system):
    login_as("compliance_officer")
    token = csrf_token(client, "/systems/new")
    response = post(client, "/systems/new", form_fields(SAMPLES["profile"]), token)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="f-reference-error"' in html and "Already in use." in html


def test_a_stale_edit_shows_what_changed_and_keeps_the_input(
    client, login_as, session, system, officer, profile
):
    login_as("compliance_officer")
    entry = reads.profile_entry(session, system)
    path = f"/systems/sys-1/entries/{entry.id}/edit"
    page = client.get(path).get_data(as_text=True)
    assert 'name="base_version" value="1"' in page
    assert re.search(r'id="f-reference"[^>]*readonly', page)
    token = csrf_token(client, path)
    # Someone else saves first.
    writes.update_entry(
        session, officer, entry.id, {**profile, "stage": "proposed"}, base_version=1
    )
    session.commit()
    mine = [*form_fields({**profile, "purpose": "My new purpose"}), ("reason", "Mine")]
    response = post(client, path, [*mine, ("base_version", "1")], token)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed since you opened it: version 2 by user:compliance-officer@example.org" in html
    assert "Your changes are below, not saved." in html
    assert re.search(r"<th scope=\"row\">Stage</th>.*pilot.*proposed", html, re.S)
    assert 'name="base_version" value="2"' in html
    assert "My new purpose" in html
    session.expire_all()
    assert reads.get_entry(session, entry.id).head_number == 2
    # Submitting again applies the change to the current version, deliberately.
    response = post(client, path, [*mine, ("base_version", "2")], token)
    assert response.status_code == 302
    state = reads.state_of(session, "sys-1")
    body = state.of_kind("profile")[0].body
    assert body["purpose"] == "My new purpose"
    assert body["stage"] == "pilot"  # the user's form said pilot: their choice, seen first


def test_edit_and_retire_an_entry(client, login_as, session, system, officer):
    owner = writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()
    login_as("compliance_officer")
    path = f"/systems/sys-1/entries/{owner.entry_id}/edit"
    page = client.get(path).get_data(as_text=True)
    assert 'value="bea@example.org"' in page
    token = csrf_token(client, path)
    changed = {
        **SAMPLES["owner"],
        "role": "technical",
        "delegate": {"name": "D", "email": "d@x.org"},
    }
    response = post(client, path, [*form_fields(changed), ("base_version", "1")], token)
    assert response.status_code == 302, response.get_data(as_text=True)
    state = reads.state_of(session, "sys-1")
    assert state.of_kind("owner")[0].body == normalise_body("owner", changed)

    retire = f"/systems/sys-1/entries/{owner.entry_id}/retire"
    page = client.get(retire).get_data(as_text=True)
    assert 'name="base_version" value="2"' in page
    response = post(client, retire, [("base_version", "2"), ("reason", "Left")], token)
    assert response.status_code == 302
    session.expire_all()
    entry = reads.get_entry(session, owner.entry_id)
    assert entry.retired and entry.head_number == 3
    assert client.get(path).status_code == 409  # a retired entry cannot be edited


def test_a_stale_retirement_is_refused(client, login_as, session, system, officer):
    owner = writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    writes.update_entry(
        session, officer, owner.entry_id, {**SAMPLES["owner"], "role": "dpo"}, base_version=1
    )
    session.commit()
    login_as("compliance_officer")
    retire = f"/systems/sys-1/entries/{owner.entry_id}/retire"
    token = csrf_token(client, retire)
    response = post(client, retire, [("base_version", "1"), ("reason", "Gone")], token)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed since you opened it: version 2" in html and '<th scope="row">Role</th>' in html
    assert 'name="base_version" value="2"' in html and "Gone</textarea>" in html
    session.expire_all()
    assert not reads.get_entry(session, owner.entry_id).retired


def test_officer_sees_the_controls(client, login_as, system):
    login_as("compliance_officer")
    assert "Register a system" in client.get("/systems").get_data(as_text=True)
    html = client.get("/systems/sys-1").get_data(as_text=True)
    assert "Add owner" in html and ">Edit<" in html and 'name="kind"' in html


def _edit_urls(session, system) -> list[str]:
    entry = reads.profile_entry(session, system)
    return [
        "/systems/new",
        "/systems/sys-1/entries/new?kind=owner",
        f"/systems/sys-1/entries/{entry.id}/edit",
        f"/systems/sys-1/entries/{entry.id}/retire",
    ]


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_readers_without_write_see_no_controls_and_are_refused(
    client, login_as, session, system, role
):
    login_as(role)
    for page in ("/", "/systems/sys-1"):
        html = client.get(page).get_data(as_text=True)
        for control in ("Register a system", "Add ", ">Edit<", ">Retire<", "/edit", "/retire"):
            assert control not in html, (page, control)
    token = csrf_token(client, "/systems")  # the sign-out form of any page
    for url in _edit_urls(session, system):
        assert client.get(url).status_code == 403, url
        response = post(client, url, [("reason", "x"), ("base_version", "1")], token)
        assert response.status_code == 403, url
    assert len(reads.history(session, reads.profile_entry(session, system))) == 1


def test_technical_owner_edits_only_systems_they_own(
    client, login_as, session, officer, users, profile
):
    mine, _ = writes.create_system(session, officer, {**profile, "reference": "mine"})
    writes.create_system(session, officer, {**profile, "reference": "theirs"})
    writes.create_entry(
        session,
        officer,
        mine,
        "owner",
        {
            "role": "technical",
            "person": {"name": "Tess", "email": users["technical_owner"].email},
            "start": "2020-01-01",
        },
    )
    session.commit()
    login_as("technical_owner")
    assert "Register a system" not in client.get("/systems").get_data(as_text=True)
    assert client.get("/systems/new").status_code == 403
    theirs = client.get("/systems/theirs").get_data(as_text=True)
    assert ">Edit<" not in theirs and "Add owner" not in theirs
    assert client.get("/systems/theirs/entries/new?kind=risk").status_code == 403
    assert ">Edit<" in client.get("/systems/mine").get_data(as_text=True)
    path = "/systems/mine/entries/new?kind=risk"
    token = csrf_token(client, path)
    response = post(client, path, form_fields(SAMPLES["risk"]), token)
    assert response.status_code == 302
    response = post(client, path.replace("mine", "theirs"), form_fields(SAMPLES["risk"]), token)
    assert response.status_code == 403
    assert len(entries_of(session, "risk")) == 1


def test_a_post_without_csrf_token_is_refused(client, login_as, session, system):
    login_as("compliance_officer")
    response = post(client, form_path("risk"), form_fields(SAMPLES["risk"]))
    assert response.status_code == 400
    assert entries_of(session, "risk") == []


def test_unknown_kind_or_entry_is_not_found(client, login_as, system):
    login_as("compliance_officer")
    assert client.get("/systems/sys-1/entries/new?kind=profile").status_code == 404
    assert client.get("/systems/sys-1/entries/new?kind=nope").status_code == 404
    assert client.get("/systems/sys-1/entries/999/edit").status_code == 404
    assert client.get("/systems/nope/entries/new?kind=risk").status_code == 404


# Values an edit form cannot show as they are: list items with a line break, text with
# surrounding whitespace, a textarea's text that opens with a line break.
UNSHOWABLE = {
    "monitoring_plan": {
        **SAMPLES["monitoring_plan"],
        "metrics": [{**SAMPLES["monitoring_plan"]["metrics"][0], "unit": " ratio "}],
        "data_sources": ["a, b", "c\nd", " e "],
        "escalation_to_incident": "\nOpens with a line break",
    },
    "owner": {
        **SAMPLES["owner"],
        "person": {"name": " Bea Business ", "email": "bea@example.org"},
        "authority_scope": "  leading and trailing  \nline2\r\nline3\n\n",
    },
}


def versions_of(session, entry_id: int) -> list[str]:
    session.expire_all()
    entry = reads.get_entry(session, entry_id)
    return [reads.get_version(session, entry, n).body for n in range(1, entry.head_number + 1)]


@pytest.mark.parametrize("browser", [True, False], ids=["as-a-browser-sends", "as-shown"])
def test_an_edit_saved_without_a_change_records_nothing(
    client, login_as, session, system, officer, browser
):
    made = {
        kind: writes.create_entry(session, officer, system, kind, body)
        for kind, body in UNSHOWABLE.items()
    }
    session.commit()
    login_as("compliance_officer")
    for kind, version in made.items():
        stored = version.body
        path = f"/systems/sys-1/entries/{version.entry_id}/edit"
        sent = submitted(client.get(path).get_data(as_text=True), browser)
        assert ("base_version", "1") in sent and any(k == "csrf_token" for k, _ in sent)
        response = client.post(path, data=MultiDict(sent), follow_redirects=True)
        assert response.status_code == 200, (kind, response.get_data(as_text=True))
        page = response.get_data(as_text=True)
        assert "Nothing changed: no new version of" in page, kind
        assert versions_of(session, version.entry_id) == [stored], kind


def test_every_kind_saved_unchanged_records_nothing(client, login_as, session, system, officer):
    made = {"profile": reads.profile_entry(session, system).id}
    for kind in SAMPLES:
        if kind != "profile":
            sample = bound_sample(session, system, kind)
            made[kind] = writes.create_entry(session, officer, system, kind, sample).entry_id
    session.commit()
    login_as("compliance_officer")
    for kind, entry_id in made.items():
        before = versions_of(session, entry_id)
        path = f"/systems/sys-1/entries/{entry_id}/edit"
        sent = submitted(client.get(path).get_data(as_text=True))
        response = client.post(path, data=MultiDict(sent))
        assert response.status_code == 302, (kind, response.get_data(as_text=True))
        assert versions_of(session, entry_id) == before, kind


def test_a_changed_field_is_read_and_the_others_keep_their_stored_values(
    client, login_as, session, system, officer
):
    plan = writes.create_entry(
        session, officer, system, "monitoring_plan", UNSHOWABLE["monitoring_plan"]
    )
    owner = writes.create_entry(session, officer, system, "owner", UNSHOWABLE["owner"])
    session.commit()
    login_as("compliance_officer")

    def save(entry_id: int, changes: dict[str, str]) -> dict[str, Any]:
        path = f"/systems/sys-1/entries/{entry_id}/edit"
        sent = [
            (k, changes.get(k, v)) for k, v in submitted(client.get(path).get_data(as_text=True))
        ]
        response = client.post(path, data=MultiDict(sent), follow_redirects=True)
        assert "Saved " in response.get_data(as_text=True), response.get_data(as_text=True)
        return json.loads(versions_of(session, entry_id)[-1])

    stored = UNSHOWABLE["monitoring_plan"]
    body = save(plan.entry_id, {"alert_routing": "  ml-oncall and on-call lead \r\n"})
    assert body == {**stored, "alert_routing": "ml-oncall and on-call lead"}
    # One field of a row changed: the row's other fields keep theirs.
    body = save(plan.entry_id, {"metrics.0.threshold": "0.85"})
    assert body["metrics"] == [{**stored["metrics"][0], "threshold": 0.85}]
    assert body["data_sources"] == ["a, b", "c\nd", " e "]
    # The list itself changed: read one item a line, as the form says.
    body = save(plan.entry_id, {"data_sources": "a, b\r\n c \r\n\r\nd"})
    assert body["data_sources"] == ["a, b", "c", "d"]
    assert body["escalation_to_incident"] == stored["escalation_to_incident"]
    assert len(versions_of(session, plan.entry_id)) == 4

    body = save(owner.entry_id, {"role": "technical", "person.email": "bea@example.com"})
    assert body == {
        **UNSHOWABLE["owner"],
        "role": "technical",
        "person": {"name": " Bea Business ", "email": "bea@example.com"},
    }
