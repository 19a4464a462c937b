"""``Admin.jobs`` refuses a filter no job can match as meant, on every store alike.

Each store answered such a filter its own way: SQLite matched ``version="1"`` as 1
where the memory store matched nothing, raised ``UnicodeEncodeError`` for a lone
surrogate (the memory store: an empty page), ``OverflowError`` for a version past its
integers and ``datatype mismatch`` for an offset of 1.5; a NaN or negative age gave an
empty page. Each is now a ``ValueError`` naming the filter, before the store is read.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from actors import JobState
from actors._cli import main
from actors._job import JobRecord
from actors.admin import Admin

BAD_FILTERS = [
    ({"version": "1"}, "version must be None or an int from 1 to "),
    ({"version": True}, "version must be None or an int from 1 to "),
    ({"version": 0}, "version must be None or an int from 1 to "),
    ({"version": 10**30}, "version must be None or an int from 1 to "),
    ({"workflow": "\ud800"}, "workflow must be Unicode text or None, got '\\\\ud800'"),
    ({"step": b"a"}, "step must be Unicode text or None, got b'a'"),
    ({"error": "card \udcff"}, "error must be Unicode text or None"),
    ({"since": float("nan")}, "since must be None or seconds from 0 to a century, got nan"),
    ({"since": -5}, "since must be None or seconds from 0 to a century, got -5"),
    ({"before": 10**400}, "before must be None or seconds from 0 to a century"),
    ({"before": float("inf")}, "before must be None or seconds from 0 to a century, got inf"),
    ({"offset": 1.5}, "limit must be an int >= 1 and offset an int >= 0, got limit=50, offset=1.5"),
    ({"limit": True}, "limit must be an int >= 1 and offset an int >= 0, got limit=True"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_FILTERS)
def test_a_filter_no_job_can_match_is_refused_naming_it(
    store: Any, kwargs: dict[str, Any], message: str
) -> None:
    store.create(JobRecord("j1", "j1", "wf", 1, "a", {}, JobState.FAULTED, error="card x"))
    admin = Admin(store)
    with pytest.raises(ValueError, match=r"^" + message.replace("(", r"\(").replace(".", r"\.")):
        admin.jobs(**kwargs)
    assert [job.id for job in admin.jobs(version=1, since=60, error="card").items] == ["j1"]


def test_an_age_between_a_century_and_366_days_a_year_is_a_bad_argument(tmp_path: Any) -> None:
    """``--since 36550d`` passed the command's check and listed; Admin refuses it now."""
    url = f"sqlite:///{tmp_path / 'ages.db'}"
    admin = Admin(url)
    admin.store.create(JobRecord("j1", "j1", "wf", 1, "a", {}, JobState.READY))
    admin.close()
    admin.store.close()
    result = CliRunner().invoke(main, ["jobs", "list", "--store", url, "--since", "36550d"])
    assert result.exit_code == 2, result.output
    assert "--since '36550d' is more than a hundred years" in result.output


@pytest.mark.parametrize("older_than", [float("nan"), -1, 10**400, "7d", None, float("inf")])
def test_a_prune_age_that_is_no_age_is_refused(store: Any, older_than: Any) -> None:
    """NaN pruned nothing without a word, 10**400 raised OverflowError, "7d" TypeError."""
    store.create(JobRecord("j1", "j1", "wf", 1, "a", {}, JobState.DONE))
    with pytest.raises(
        ValueError, match=r"^older_than must be a number of seconds from 0 up to a century"
    ):
        Admin(store).prune(older_than)
    assert store.get("j1") is not None
