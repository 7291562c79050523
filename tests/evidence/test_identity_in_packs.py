"""Who did what to the registry's accounts is in a pack of the whole registry: sign-ins
and failed ones, second-factor enrolment, password reset links, tokens made and
revoked, role changes (events about no system, so no system's pack holds them)."""

from __future__ import annotations

import json

import pyotp

from registry.accounts import second_factor
from registry.accounts import service as accounts
from registry.accounts.actor import Actor
from registry.db import utcnow
from tests.evidence.conftest import do_export, members


def test_a_whole_registry_pack_holds_the_identity_events(app, session, users):
    admin = Actor.for_user(users["admin"])
    owner = users["technical_owner"]
    accounts.record_sign_in(session, owner, "password")
    accounts.record_failed_sign_in(session, owner.email, "password")
    token, _ = accounts.create_token(session, Actor.for_user(owner), owner, name="ci")
    accounts.revoke_token(session, Actor.for_user(owner), str(token.id))
    accounts.issue_password_reset(session, admin, owner)
    accounts.set_roles(session, admin, owner, ["technical_owner", "auditor"])
    secret = second_factor.begin_enrolment(session, owner)
    now = utcnow()
    second_factor.confirm_enrolment(session, owner, pyotp.TOTP(secret).at(now), now)
    session.commit()

    done = do_export(app, session)
    lines = members(done.path)["ledger/events.jsonl"].splitlines()
    actions = [json.loads(line)["action"] for line in lines]
    for action in (
        "user.sign_in",
        "user.sign_in_failed",
        "token.create",
        "token.revoke",
        "user.password_reset_issue",
        "user.roles",
        "user.second_factor_enrol",
    ):
        assert action in actions, action
