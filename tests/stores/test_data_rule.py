"""One data rule on every store, checked at the door without running the value's hooks.

Job data is JSON values and registered dataclasses, on memory, SQLite and PostgreSQL
alike. ``schedule`` refuses anything else before admitting it, naming the bad value's
path, and runs none of its ``__reduce__``, ``__deepcopy__``, ``__copy__`` or
``__getstate__``; a task that puts such a value in the data fails at *its* step.
"""

import datetime
import re
import threading
from dataclasses import dataclass

import pytest
from bounds import TIMEOUT

from actors import CodecError, JobState, Mediator, ParallelSplit, Sequential, Workflow
from actors.stores import register_dataclass

CALLED: list[str] = []


class Hooked:
    """Every copy or pickle hook records that it ran (and would smuggle in a payload)."""

    def __reduce__(self):
        CALLED.append("__reduce__")
        return (print, ("code ran at admission",))

    def __reduce_ex__(self, protocol):
        CALLED.append("__reduce_ex__")
        return (print, ("code ran at admission",))

    def __deepcopy__(self, memo):
        CALLED.append("__deepcopy__")
        return {"smuggled": True}

    def __copy__(self):
        CALLED.append("__copy__")
        return {"smuggled": True}

    def __getstate__(self):
        CALLED.append("__getstate__")
        return {}


@register_dataclass
@dataclass
class Parcel:
    weight: int

    def __deepcopy__(self, memo):  # never used: the copy goes through the codec
        CALLED.append("Parcel.__deepcopy__")
        return Parcel(weight=-1)


def _flow():
    def put(data):
        data["nested"] = {"ok": 1, "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}

    return Workflow(
        "rule",
        start="a",
        steps=[
            Sequential("a", lambda d: d.update(a=1), next="b"),
            Sequential("b", put, next="c"),
            Sequential("c", lambda d: d.update(c=1)),
        ],
    )


@pytest.fixture(autouse=True)
def _forget_calls():
    CALLED.clear()


def test_data_no_store_could_keep_is_refused_at_the_door_on_every_store(make_store):
    with Mediator([_flow()], store=make_store()) as mediator:
        for bad, path in (
            ({"when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}, "data['when']"),
            ({"items": [1, {"tags": {"a", "b"}}]}, "data['items'][1]['tags']"),
            ({(1, 2): "tuple key"}, "dict key (1, 2)"),
            ({"raw": b"bytes"}, "data['raw']"),
        ):
            with pytest.raises(CodecError, match="cannot be stored") as refused:
                mediator.schedule("rule", bad)
            assert path in str(refused.value)
        assert mediator.stats().admitted == 0


def test_admission_runs_no_copy_or_pickle_hook(make_store):
    keep = Workflow("keep", [Sequential("a", lambda d: d.update(a=1))], start="a")
    with Mediator([_flow(), keep], store=make_store()) as mediator:
        with pytest.raises(CodecError, match=r"data\['x'\]: value of type .*Hooked"):
            mediator.schedule("rule", {"x": Hooked()})
        with pytest.raises(CodecError):
            mediator.schedule_many("rule", [{"x": [Hooked()]}])
        parcel = Parcel(weight=3)
        job = mediator.schedule("keep", {"parcel": parcel}).result(timeout=TIMEOUT)
    assert CALLED == []
    assert job.state is JobState.DONE
    assert job.data["parcel"] == Parcel(weight=3)
    assert job.data["parcel"] is not parcel  # the case ran on its own copy


def test_a_task_putting_unstorable_data_fails_at_its_step_with_the_path(make_store):
    with Mediator([_flow()], store=make_store()) as mediator:
        job = mediator.schedule("rule", {}).result(timeout=TIMEOUT)
        saved = mediator.get_job(job.id)
    for seen in (job, saved):
        assert seen.state is JobState.FAULTED
        assert seen.step == "b"
        assert seen.error.startswith("step 'b': data cannot be stored:")
        assert "['nested']['when']" in seen.error
        assert "datetime" in seen.error
        assert seen.data == {"a": 1}  # as last saved, after "a" (every store alike)
        assert "c" not in seen.data


@pytest.mark.parametrize("commit", ["slice", "group"])
def test_the_failing_step_is_named_when_saves_are_grouped(make_sql_store, commit):
    with Mediator([_flow()], store=make_sql_store(commit=commit)) as mediator:
        job = mediator.schedule("rule", {}).result(timeout=TIMEOUT)
    assert (job.state, job.step) == (JobState.FAULTED, "b")
    assert "['nested']['when']" in job.error


def test_a_tuple_stays_a_tuple_in_the_process_and_reads_back_from_a_durable_store_as_a_list(
    tmp_path,
):
    url = f"sqlite:///{tmp_path}/jobs.db"
    seen = []
    flow = Workflow("pair", [Sequential("a", lambda data: seen.append(data["pair"]))], "a")
    with Mediator([flow], store=url) as m:
        job = m.schedule("pair", {"pair": (1, 2)}, job_id="pair-1").result(timeout=TIMEOUT)
    assert seen == [(1, 2)]
    assert job.data == {"pair": (1, 2)}
    with Mediator([flow], store=url) as m:  # another run reads the row back
        stored = m.get_job("pair-1")
    assert stored is not None
    assert stored.data == {"pair": [1, 2]}


def test_a_split_copies_each_branch_without_hooks():
    done = threading.Event()

    def fan(data):
        return [{"n": n, "parcel": Parcel(weight=n)} for n in range(3)]

    flow = Workflow(
        "fan",
        start="split",
        steps=[
            ParallelSplit("split", branches=fan, each="one"),
            Sequential("one", lambda d: done.set()),
        ],
    )
    with Mediator([flow]) as mediator:
        assert mediator.schedule("fan", {}).result(timeout=TIMEOUT).state is JobState.DONE
    assert CALLED == []


def test_an_event_payload_no_store_could_keep_is_refused_and_the_job_still_waits(make_store):
    from actors import EventOutcome, RequestReaction

    asked, sent = [], threading.Event()

    def send(data, ctx):
        asked.append(ctx.correlation_id)
        sent.set()

    flow = Workflow(
        "ask",
        start="ask",
        steps=[
            RequestReaction(
                "ask",
                send=send,
                on_reply=lambda d, r: d.update(reply=r),
                next="end",
            ),
            Sequential("end", lambda d: None),
        ],
    )
    with Mediator([flow], store=make_store()) as mediator:
        handle = mediator.schedule("ask", {})
        assert sent.wait(TIMEOUT)
        # Named by its correlation id, as for a string no store can keep (below).
        refused = re.escape(f"event payload for {asked[0]!r}['at']: value of type datetime")
        with pytest.raises(CodecError, match=refused):
            mediator.receive_event(asked[0], {"at": datetime.datetime.now(tz=datetime.UTC)})
        assert mediator.receive_event(asked[0], {"at": "2026-01-01"}) is EventOutcome.DELIVERED
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {"reply": {"at": "2026-01-01"}}


def _name_from_disk(data):
    # What os.listdir gives for a file name that is not UTF-8: a lone surrogate.
    data["file"] = b"report-\xff.csv".decode("utf-8", "surrogateescape")


def _surrogate_flow():
    return Workflow(
        "listing",
        start="a",
        steps=[
            Sequential("a", lambda d: d.update(a=1), next="b"),
            Sequential("b", _name_from_disk, next="c"),
            Sequential("c", lambda d: d.update(c=1)),
        ],
    )


COUNTED: list[int] = []


def _count(data):
    COUNTED.append(data["n"])


@pytest.mark.parametrize("commit", ["step", "slice", "group"])
def test_text_no_database_takes_faults_its_step_and_leaves_other_cases_alone(
    make_sql_store, commit
):
    """A lone surrogate in a str: the step faults, naming the path; the others run once."""
    COUNTED.clear()
    counting = Workflow("count", [Sequential("count", _count)], start="count")
    with Mediator([_surrogate_flow(), counting], store=make_sql_store(commit=commit)) as m:
        handles = [m.schedule("count", {"n": n}) for n in range(20)]
        bad = m.schedule("listing", {})
        handles += [m.schedule("count", {"n": n}) for n in range(20, 40)]
        job = bad.result(timeout=TIMEOUT)
        assert all(h.result(timeout=TIMEOUT).state is JobState.DONE for h in handles)
        assert (job.state, job.step) == (JobState.FAULTED, "b")
        assert "['file']" in job.error and "lone surrogate" in job.error
        assert m.get_job(job.id).state is JobState.FAULTED  # stored as such
    assert sorted(COUNTED) == list(range(40))  # no group rolled back and ran again


def test_a_stored_lone_surrogate_reads_as_an_unreadable_row(make_sql_store):
    store = make_sql_store()
    try:
        with pytest.raises(CodecError, match=r"cannot decode data\['k'\]\[0\]: .*lone surrogate"):
            store.codec.decode('{"k":["\\uDC80"]}')
        assert store.codec.decode('"\\ud83d\\ude00"') == "\U0001f600"  # a pair is a character
    finally:
        store.close()


def _open_missing(data):
    raise FileNotFoundError(b"report-\xff.csv".decode("utf-8", "surrogateescape"))


def _nul_in_message(data):
    raise ValueError("no file named bad\x00name")


@pytest.mark.parametrize(
    ("task", "kept"),
    [
        (_open_missing, "report-\\udcff.csv"),  # a name that is not UTF-8: no database takes it
        (_nul_in_message, "bad\\x00name"),  # PostgreSQL's text holds no NUL
    ],
    ids=["not-utf8", "nul"],  # a test id stays printable text
)
@pytest.mark.parametrize("commit", ["step", "group"])
def test_an_error_quoting_text_no_database_takes_is_stored_escaped(
    make_sql_store, commit, task, kept
):
    """The job faults, once, stored: the save failed, and the case looped for ever."""
    flow = Workflow("open", [Sequential("a", task)], start="a")
    with Mediator([flow], store=make_sql_store(commit=commit)) as m:
        job = m.schedule("open", {}).result(timeout=TIMEOUT)
        stored = m.get_job(job.id)
    assert job.state is JobState.FAULTED
    assert stored.state is JobState.FAULTED
    assert kept in stored.error  # the escape, where the database kept it


def test_a_case_id_no_database_takes_is_refused_at_the_door(make_store):
    with Mediator([_flow()], store=make_store()) as m:
        with pytest.raises(ValueError, match="job_id must be"):
            m.schedule("rule", {}, job_id=b"order-\xff".decode("utf-8", "surrogateescape"))
        assert m.stats().admitted == 0


def test_an_event_payload_no_store_could_keep_leaves_the_job_for_a_good_one(make_store):
    from actors import DeferredChoice

    flow = Workflow(
        "evt",
        [
            DeferredChoice("w", events={"go": "z"}, on_event=lambda d, n, p: d.update(p=p)),
            Sequential("z", lambda d: d.update(done=True)),
        ],
        start="w",
    )
    lone = b"\xff".decode("utf-8", "surrogateescape")
    with Mediator([flow], store=make_store()) as m:  # memory too: a payload is checked as text
        handle = m.schedule("evt", {})
        cid = f"{handle.job_id}/w/go"
        from bounds import wait_until

        wait_until(lambda: m.get_job(handle.job_id).state is JobState.WAITING, "the job parked")
        with pytest.raises(CodecError, match=r"event payload .*\['k'\]: a str holding a lone"):
            m.receive_event(cid, {"k": lone})
        from actors import EventOutcome

        assert m.receive_event(cid, {"ok": 1}) is EventOutcome.DELIVERED
        assert handle.result(timeout=TIMEOUT).data == {"p": {"ok": 1}, "done": True}


def test_a_step_context_in_the_data_is_named_as_such_not_as_a_class_to_register():
    """A default meant for a captured value takes the context: say so, not "register it"."""
    values = [{"sku": "tea"}]
    steps = [Sequential(f"s{n}", lambda data, v=v: {"item": v}) for n, v in enumerate(values)]
    with Mediator([Workflow("ctx", steps, start="s0")]) as mediator:
        job = mediator.schedule("ctx", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert "a StepContext is not job data" in job.error
    assert "(lambda data, v=v: ...)" in job.error
    assert "register_dataclass" not in job.error
