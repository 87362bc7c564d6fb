"""WSGI entry point: ``app:server`` (for example ``gunicorn -k gthread --threads 50 app:server``).

Nothing is built at import time: the application is created from the environment the
first time ``server`` (or ``crisis_app``) is looked up.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _crisis_app() -> Any:
    from crisis.config import Settings
    from crisis.web import create_app

    return create_app(Settings.from_env())


def __getattr__(name: str) -> Any:
    if name == "server":
        return _crisis_app().server
    if name == "crisis_app":
        return _crisis_app()
    raise AttributeError(name)


if __name__ == "__main__":
    from crisis.config import Settings

    settings = Settings.from_env()
    _crisis_app().run(settings.host, settings.port)
