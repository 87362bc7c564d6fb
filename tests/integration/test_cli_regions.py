"""`crisis users` / `crisis tokens` grant a regional desk several regions (issue 9)."""

from __future__ import annotations

from tests.integration.test_cli import PASSWORD, crisis, env  # noqa: F401 - env is a fixture

AFRICA, MENA, EUROPE = "africa", "middle_east_north_africa", "europe_central_asia"


def test_a_desk_is_granted_several_regions_repeated_or_as_a_comma_list(env: dict[str, str]) -> None:  # noqa: F811
    added = crisis(env, "users", "add", "amal", "--role", "regional_desk", "--region", AFRICA, "--region", MENA,
                   stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    token = crisis(env, "tokens", "create", "amal-api", "--role", "regional_desk", "--region", f"{MENA},{EUROPE}")
    assert token.returncode == 0, token.stderr
    users = crisis(env, "users", "list").stdout
    assert f"amal\tregional_desk\t{AFRICA},{MENA}\t" in users
    assert f"amal-api\tregional_desk\t{MENA},{EUROPE}\t" in crisis(env, "tokens", "list").stdout
    changed = crisis(env, "users", "change", "amal", "--role", "regional_desk", "--region", EUROPE)
    assert changed.returncode == 0, changed.stderr
    assert f"amal\tregional_desk\t{EUROPE}\t" in crisis(env, "users", "list").stdout
    refused = crisis(env, "users", "add", "bad", "--role", "regional_desk", "--region", f"{AFRICA},atlantis",
                     stdin=PASSWORD + "\n")
    assert refused.returncode != 0 and "unknown region 'atlantis'" in refused.stderr
