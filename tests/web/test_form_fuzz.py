"""Generated form posts, valid and invalid, to every web form: never a 5xx (both engines).

Each post starts from what a user fills in for a valid sample and replaces some of its
values (or adds stray fields) with generated text: control characters, NUL, long text,
numbers, dates and instants at the calendar's ends.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from registry.records import reads, writes
from registry.records.kinds import KINDS
from tests.conftest import PASSWORD, csrf_token
from tests.records.samples import SAMPLES, bound_sample
from tests.web.test_editing import form_fields, form_path

FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# Text a form field may be sent: anything a browser can encode (no lone surrogates),
# with the values that once reached the database or the headers picked more often.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\r\n",
            "/systems\r\nX: y",
            "9" * 5_000,
            "-1",
            "2147483648",
            "9999-12-31",
            "0001-01-01",
            "23:59:59-01:00",
            "00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "x" * 20_000,
        ]
    ),
)


def _posts(pairs: list[tuple[str, str]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """The pairs with some values replaced by generated text, plus stray fields."""
    names = [name for name, _ in pairs]
    return st.tuples(
        st.lists(st.tuples(st.sampled_from(names), TEXT), max_size=len(names))
        if names
        else st.just([]),
        st.lists(st.tuples(st.sampled_from([*names, "x", "reason"]), TEXT), max_size=3)
        if names
        else st.just([]),
    ).map(
        lambda changes: [
            *((n, dict(changes[0]).get(n, v)) for n, v in pairs),
            *changes[1],
        ]
    )


def _post(client: Any, path: str, pairs: list[tuple[str, str]], token: str) -> Any:
    return client.post(path, data=MultiDict([*pairs, ("csrf_token", token)]))


@pytest.fixture
def system(session, officer, profile):
    made, _ = writes.create_system(session, officer, profile, reason="Registered")
    writes.create_entry(session, officer, made, "review_procedure", SAMPLES["review_procedure"])
    session.commit()
    return made


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_entry_forms_never_answer_5xx(client, login_as, session, system, kind):
    login_as("compliance_officer")
    path = form_path(kind)
    token = csrf_token(client, path)
    sample = SAMPLES[kind] if kind == "profile" else bound_sample(session, system, kind)
    session.rollback()
    pairs = [
        *form_fields(sample),
        ("reason", "generated"),
        ("effective_from-date", "2025-01-15"),
        ("effective_from-time", "08:30"),
    ]

    @FUZZ
    @given(post=_posts(pairs))
    def check(post: list[tuple[str, str]]) -> None:
        response = _post(client, path, post, token)
        assert response.status_code < 500, (post, response.status_code)

    check()


def test_edit_and_retire_forms_never_answer_5xx(client, login_as, session, system):
    login_as("compliance_officer")
    entry = reads.profile_entry(session, system)
    session.rollback()
    edit = f"/systems/sys-1/entries/{entry.id}/edit"
    retire = f"/systems/sys-1/entries/{entry.id}/retire"
    token = csrf_token(client, edit)
    edit_pairs = [*form_fields(SAMPLES["profile"]), ("base_version", "1"), ("reason", "r")]
    retire_pairs = [("base_version", "1"), ("reason", "r"), ("effective_from-date", "")]

    @FUZZ
    @given(edited=_posts(edit_pairs), retired=_posts(retire_pairs))
    def check(edited: list[tuple[str, str]], retired: list[tuple[str, str]]) -> None:
        for path, post in ((edit, edited), (retire, retired)):
            response = _post(client, path, post, token)
            assert response.status_code < 500, (path, post, response.status_code)

    check()


def test_admin_user_forms_never_answer_5xx(client, login_as, users):
    login_as("admin")
    token = csrf_token(client, "/admin/users/new")
    uid = users["auditor"].id
    forms = [
        ("/admin/users/new", [("email", "new@example.org"), ("name", "N"), ("roles", "auditor")]),
        (f"/admin/users/{uid}/roles", [("roles", "auditor")]),
        (f"/admin/users/{uid}/tokens", [("name", "t"), ("scopes", "read"), ("days", "5")]),
    ]

    @FUZZ
    @given(
        choice=st.integers(0, len(forms) - 1),
        data=st.data(),
    )
    def check(choice: int, data: st.DataObject) -> None:
        path, pairs = forms[choice]
        post = data.draw(_posts([*pairs, ("password", PASSWORD)]))
        response = _post(client, path, post, token)
        assert response.status_code < 500, (path, post, response.status_code)

    check()


def test_sign_in_never_answers_5xx(app, users):
    client = app.test_client()
    token = csrf_token(client)
    pairs = [("email", users["auditor"].email), ("password", PASSWORD)]

    @FUZZ
    @given(post=_posts(pairs), target=TEXT)
    def check(post: list[tuple[str, str]], target: str) -> None:
        response = client.post(
            "/login",
            query_string={"next": target},
            data=MultiDict([*post, ("csrf_token", token)]),
        )
        assert response.status_code < 500, (post, target, response.status_code)
        if response.status_code == 302:  # signed in: sign out for the next example
            client.post("/logout", data={"csrf_token": csrf_token(client, "/systems")})

    check()


def test_change_password_never_answers_5xx(client, login_as):
    """The current password, the new one twice: wrong, short, over-long, control
    characters and NUL alike get the form again (or the sign-in limits' 429)."""
    login_as("auditor")
    path = "/account/password"
    token = csrf_token(client, path)
    new = "a new password of enough length"
    pairs = [("current_password", PASSWORD), ("new_password", new), ("new_password_again", new)]
    # The posts reach the form's checks (not the sign-in page nor a CSRF refusal).
    mismatch = [*pairs[:2], ("new_password_again", new + "!")]
    assert _post(client, path, mismatch, token).status_code == 422

    @FUZZ
    @given(post=_posts(pairs))
    def check(post: list[tuple[str, str]]) -> None:
        response = _post(client, path, post, token)
        assert response.status_code < 500, (post, response.status_code)

    check()
