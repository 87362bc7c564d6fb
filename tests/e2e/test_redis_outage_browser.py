"""The banner, for real: a page open in Chromium says so when the server's Redis stalls
(SIGSTOP), and stops saying it when Redis answers again (SIGCONT). Issue 10, H1.

``crisis serve`` runs on a redis-server of the test's own (REDIS_URL), so that stalling it
touches no other test.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import redis

from crisis.adapters.accounts import AccountStore
from tests.conftest import PASSWORD, live_page, random_ref
from tests.integration.test_redis_outage import RedisServer, own_redis, serve, short_dir  # noqa: F401 - fixtures

BANNER = "() => { const b = document.getElementById('live-banner'); return b && b.offsetHeight > 0 ? b.innerText : ''; }"


def test_the_banner_says_storage_is_unavailable_while_redis_stalls_and_clears_after(
        browser: Any, own_redis: RedisServer, serve: Callable[[dict[str, str]], str]) -> None:  # noqa: F811
    url = serve({"REDIS_URL": own_redis.url})
    name = random_ref("duty-")
    AccountStore(redis.Redis.from_url(own_redis.url, decode_responses=True)).add_user(name, PASSWORD, "duty_officer")
    page, errors = live_page(browser, url, name)
    page.wait_for_function("() => document.body.getAttribute('data-storage') === 'ok'", timeout=30_000)
    assert page.evaluate(BANNER) == ""

    own_redis.signal(signal.SIGSTOP)
    try:
        page.wait_for_function("() => document.body.getAttribute('data-storage') === 'unavailable'", timeout=30_000)
        page.wait_for_function(f"() => ({BANNER})().startsWith('STORAGE UNAVAILABLE')", timeout=10_000)
        text = page.evaluate(BANNER)
        assert "cannot be saved" in text and "recovers by itself" in text, text
        assert page.evaluate("() => document.getElementById('live-status').innerText") == "LIVE"  # still connected
    finally:
        own_redis.signal(signal.SIGCONT)

    page.wait_for_function("() => document.body.getAttribute('data-storage') === 'ok'", timeout=30_000)
    page.wait_for_function(f"() => ({BANNER})() === ''", timeout=10_000)
    # Only the map may complain: its tiles and glyphs are asked of the server too, and were 503s.
    assert all(e == "Map error." for e in errors), errors
    page.close()
