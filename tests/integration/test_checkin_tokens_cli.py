"""``crisis tokens create --role traveller --traveller ID`` and ``crisis wardens assign /
unassign`` in a real subprocess on the test session's Redis: the tokens work only for
their people, and every change is audited."""

from __future__ import annotations

import json

from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.config import Settings
from tests.integration.test_travellers_cli import crisis


def _audit(context: Context, action: str) -> list[dict[str, str]]:
    return [f for _, f in context.redis.xrange(keys.AUDIT_STREAM) if f["action"] == action]


def _traveller(context: Context, tid: str) -> None:
    context.redis.hset(keys.TRAVELLERS, tid, json.dumps({"id": tid, "name": tid, "agency": "A", "category": "visitor"}))


def test_a_traveller_token_is_bound_to_an_imported_person(context: Context, settings: Settings) -> None:
    _traveller(context, "P1")
    made = crisis(settings, "tokens", "create", "phone-p1", "--role", "traveller", "--traveller", "P1")
    assert made.returncode == 0, made.stderr
    principal = context.accounts.token(made.stdout.strip().splitlines()[-1])
    assert principal is not None and principal.role == "traveller" and principal.traveller_id == "P1"
    entry = _audit(context, "token.create")[-1]
    assert json.loads(entry["after"])["traveller_id"] == "P1"

    missing = crisis(settings, "tokens", "create", "phone-x", "--role", "traveller")
    assert missing.returncode != 0 and "--traveller" in missing.stderr
    unknown = crisis(settings, "tokens", "create", "phone-x", "--role", "traveller", "--traveller", "nobody")
    assert unknown.returncode != 0 and "no traveller 'nobody'" in unknown.stderr
    wrong = crisis(settings, "tokens", "create", "feed-x", "--role", "feed", "--traveller", "P1")
    assert wrong.returncode != 0
    assert len(_audit(context, "token.create")) == 1
    assert crisis(settings, "users", "add", "u1", "--role", "traveller").returncode != 0  # token-only roles


def test_wardens_assign_and_unassign(context: Context, settings: Settings) -> None:
    for tid in ("P1", "P2", "P3"):
        _traveller(context, tid)
    made = crisis(settings, "tokens", "create", "warden-w", "--role", "warden")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assigned = crisis(settings, "wardens", "assign", "warden-w", "P1", "P2")
    assert assigned.returncode == 0 and "2 people" in assigned.stdout, assigned.stderr
    assert context.accounts.token(token).people == frozenset({"P1", "P2"})  # type: ignore[union-attr]
    assert crisis(settings, "wardens", "unassign", "warden-w", "P2").returncode == 0
    assert context.accounts.token(token).people == frozenset({"P1"})  # type: ignore[union-attr]
    # a second token of the same warden gets the same people
    second = crisis(settings, "tokens", "create", "warden-w", "--role", "warden").stdout.strip().splitlines()[-1]
    assert context.accounts.token(second).people == frozenset({"P1"})  # type: ignore[union-attr]
    unknown = crisis(settings, "wardens", "assign", "warden-w", "nobody")
    assert unknown.returncode != 0 and "nobody" in unknown.stderr
    nowarden = crisis(settings, "wardens", "assign", "no-such-warden", "P1")
    assert nowarden.returncode != 0 and "no warden token" in nowarden.stderr
    assign, unassign = _audit(context, "warden.assign"), _audit(context, "warden.unassign")
    assert len(assign) == 1 and len(unassign) == 1
    assert json.loads(assign[0]["after"]) == ["P1", "P2"] and json.loads(unassign[0]["after"]) == ["P1"]
