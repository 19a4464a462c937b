"""Masking takes time in proportion to the text, whatever the text holds.

A message or a log line an attacker writes (a job's error, an event's payload) goes
through ``mask_secrets``; a pattern that backtracks would make masking it a denial of
service. Each hostile text of about a megabyte is masked in a child process that gets a
generous bound: linear masking takes a fraction of a second, a quadratic one hours.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bounds import TIMEOUT

from actors._redact import mask_secrets, remember_secrets

ROOT = Path(__file__).resolve().parent.parent
SIZE = 1_000_000

# Python expressions, each a hostile text of about SIZE characters.
HOSTILE = {
    "schemes without an @ after them": "'a://b:' * (SIZE // 6) + ' @'",
    "a long word ending in @": "'x' * SIZE + '@'",
    "scheme characters and digits": "'a1' * (SIZE // 2) + '@'",
    "an @ after many schemes": "'a://b:' * (SIZE // 6) + '@'",
    "user info without a password": "'a://b' * (SIZE // 5) + '@'",
    "ats after one scheme": "'a://b:' + '@x' * (SIZE // 2)",
    "password keys": "'password=' * (SIZE // 9) + '@'",
    "open quotes": "'password=\"' + \"password='x\" * (SIZE // 11)",
}


@pytest.mark.parametrize("what", HOSTILE)
def test_masking_a_hostile_text_takes_linear_time(what):
    text = HOSTILE[what]
    script = textwrap.dedent(f"""
        from actors._redact import mask_secrets
        SIZE = {SIZE}
        mask_secrets({text})
        print("masked")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False,
            timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"masking {what} ({text}) took over {TIMEOUT} s")
    assert done.stdout.strip() == "masked", done.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "see postgresql://u:pw1@h/db and x://v:pw2@h2",
            "see postgresql://u:***@h/db and x://v:***@h2",
        ),
        ("1postgresql://u:pw@h", "1postgresql://u:***@h"),  # the scheme starts at a letter
        ("a://b:c a://d:e@f", "a://b:c a://d:***@f"),  # no @ before the space: not a password
        ("a://b:c://d:e@f", "a://b:***@f"),  # the password runs to the last @
        ("'a://u:p@h' b://u:q@h", "'a://u:***@h' b://u:***@h"),
        ("123://u:p@h", "123://u:p@h"),  # no letter: not a scheme
        ("A+B.c-d://U:P@H", "A+B.c-d://U:***@H"),
    ],
)
def test_urls_are_masked_as_before(text, shown):
    assert mask_secrets(text) == shown


def test_remembered_url_passwords_are_the_same_spans():
    remember_secrets("postgresql://u:Remembered-Pw-1@x@h/db")
    assert mask_secrets("it said Remembered-Pw-1@x to me") == "it said *** to me"
