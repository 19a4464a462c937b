"""``create_app()`` given a store's URL where it takes the store."""

from __future__ import annotations

import pytest

from actors.ui import create_app


def test_a_url_is_refused_with_how_to_open_it_and_its_password_masked() -> None:
    with pytest.raises(TypeError) as refused:
        create_app("postgresql://app:s3cret@db/jobs")  # type: ignore[arg-type]
    message = str(refused.value)
    assert "the dashboard takes a store, not its URL" in message
    assert "actors.stores.open_store(url)" in message
    assert "postgresql://app:***@db/jobs" in message
    assert "s3cret" not in message
    assert "memory://" not in message  # the old text blamed a memory store


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_refused(tmp_path, token: str) -> None:
    """An empty token let in every request: an empty cookie, or ``Bearer `` with nothing."""
    from actors.stores import open_store

    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with pytest.raises(ValueError, match="lets every request in"):
            create_app(store, token=token, hosts=None)
    finally:
        store.close()


def test_a_token_shorter_than_the_command_line_takes_is_refused(tmp_path) -> None:
    """``actors ui --token`` takes 16 characters at least; so does ``create_app``."""
    from actors import _cli_ui
    from actors.stores import open_store
    from actors.ui._security import MIN_TOKEN

    assert _cli_ui._MIN_TOKEN == MIN_TOKEN == 16
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with pytest.raises(ValueError, match="at least 16 characters, got 6"):
            create_app(store, token="secret", hosts=None)
        create_app(store, token="s" * 16, hosts=None)  # long enough
    finally:
        store.close()


@pytest.mark.parametrize(
    ("token", "char", "at"),
    [
        ("пароль-очень-длинный-1", "'п'", 0),  # no Latin-1: the sign-in answered 500
        ("token-with-euro-€-sign", "'€'", 16),
        ("long enough but spaced", "' '", 4),  # a header trims it, or splits it
        ("tab\tin-the-middle-of-it", "'\\t'", 3),
    ],
)
def test_a_token_no_header_can_carry_as_it_is_is_refused(tmp_path, token, char, at) -> None:
    from actors.stores import open_store

    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with pytest.raises(ValueError, match="printable ASCII without spaces") as refused:
            create_app(store, token=token, hosts=None)
        assert f"got {char} at position {at}" in str(refused.value)
    finally:
        store.close()
