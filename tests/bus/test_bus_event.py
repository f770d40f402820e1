"""Events: validation, clear errors for non-JSON data, exact JSON round trips, ids."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue, ValidationError

from agent_relay.bus import BusError, Event, EventDataError, InvalidTopicError, new_event_id

TEXT = st.text(max_size=8)  # hypothesis leaves out lone surrogates: they are not Unicode
JSON_VALUES: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
TOPICS = st.lists(st.sampled_from(["task", "7", "step", "a-b", "x_y", "é"]), min_size=1).map(
    ".".join
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    return Event(
        topic=draw(TOPICS),
        type=draw(st.text(min_size=1, max_size=10)),
        time=draw(st.datetimes(timezones=st.just(UTC))),
        task_id=draw(st.none() | TEXT),
        causation_id=draw(st.none() | TEXT),
        reply_to=draw(st.none() | TOPICS),
        data=draw(st.dictionaries(TEXT, JSON_VALUES, max_size=5)),
        metadata=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
    )


@given(events())
def test_json_round_trip_is_exact(event: Event) -> None:
    raw = event.to_json()
    again = Event.from_json(raw)
    assert again == event
    assert again.to_json() == raw
    assert Event.from_json(raw.decode()) == event


def test_defaults_are_filled_in() -> None:
    event = Event(topic="task.1.submitted", type="task.submitted")
    assert event.data == {}
    assert event.time.tzinfo is UTC
    assert event.task_id is event.causation_id is event.reply_to is None
    assert len(event.id) == 32


def test_times_are_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    event = Event(topic="a", type="t", time=datetime(2025, 1, 1, 13, 0, tzinfo=paris))
    assert event.time == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert event.time.tzinfo is UTC


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Event(topic="a", type="t", time=datetime(2025, 1, 1))


def test_events_are_immutable() -> None:
    event = Event(topic="a", type="t", data={"k": 1})
    with pytest.raises(ValidationError):
        event.topic = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"x": {1, 2}}, "data['x'] is of type set"),
        ({"x": {"y": [1, object()]}}, "data['x']['y'][1] is of type object"),
        ({"when": datetime(2025, 1, 1, tzinfo=UTC)}, "data['when'] is of type datetime"),
        ({"blob": b"raw"}, "data['blob'] is of type bytes"),
        ({"pair": (1, 2)}, "data['pair'] is of type tuple"),
        ({1: "one"}, "data has key 1 of type int (keys must be str)"),
        ({"f": float("nan")}, "data['f'] is nan (not a finite number)"),
        ({"f": [float("inf")]}, "data['f'][0] is inf (not a finite number)"),
        (["not", "a", "dict"], "event data must be a dict, not list"),
    ],
)
def test_non_json_data_is_refused_naming_the_culprit(data: object, message: str) -> None:
    with pytest.raises(EventDataError) as info:
        Event(topic="a", type="t", data=data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, BusError)


def test_any_mapping_is_accepted_as_data_and_checked_the_same() -> None:
    assert Event(topic="a", type="t", data=MappingProxyType({"k": [1]})).data == {"k": [1]}
    with pytest.raises(EventDataError, match=r"data\['k'\] is of type set"):
        Event(topic="a", type="t", data=MappingProxyType({"k": {1}}))


def test_bad_topics_raise_the_topic_error_itself() -> None:
    with pytest.raises(InvalidTopicError, match="empty token at position 2"):
        Event(topic="a..b", type="t")
    with pytest.raises(InvalidTopicError, match="wildcard"):
        Event(topic="a", type="t", reply_to="inbox.*")


def test_other_bad_fields_raise_validation_errors() -> None:
    with pytest.raises(ValidationError, match="type"):
        Event(topic="a", type="")
    with pytest.raises(ValidationError, match="Extra inputs"):
        Event(topic="a", type="t", colour="red")  # type: ignore[call-arg]


def test_strings_that_are_not_unicode_fail_to_serialize_clearly() -> None:
    event = Event(topic="file.listed", type="t", data={"name": "caf\udce9"})
    with pytest.raises(EventDataError, match="cannot be serialized"):
        event.to_json()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "invalid event JSON: Invalid JSON"),
        (b"[1]", "invalid event JSON: Input should be an object"),
        (b'{"type": "t"}', "invalid event JSON: topic: Field required"),
        (b'{"topic": "a b", "type": "t"}', "invalid topic 'a b': whitespace"),
        (b'{"topic": "a", "type": "t", "data": [1]}', "event data must be a dict, not list"),
        (b'{"topic": "a", "type": "t", "time": "2025-01-01T00:00:00"}', "timezone"),
        (b'{"topic": "a", "type": "t", "extra": 1}', "extra: Extra inputs are not permitted"),
    ],
)
def test_bad_json_raises_a_one_line_event_data_error(raw: bytes, message: str) -> None:
    with pytest.raises(EventDataError) as info:
        Event.from_json(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_ids_sort_by_creation_time_across_processes() -> None:
    before = new_event_id()
    child = subprocess.run(
        [sys.executable, "-c", "from agent_relay.bus import new_event_id; print(new_event_id())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    after = new_event_id()
    assert before < child < after
    assert child[-12:] != before[-12:]  # another process, another random tag


def _ids_in_child(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([new_event_id() for _ in range(100)])


def test_a_forked_child_gets_ids_of_its_own() -> None:
    new_event_id()  # the parent's state at fork time
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    process = context.Process(target=_ids_in_child, args=(queue,))
    process.start()
    child_ids = queue.get(timeout=30)
    process.join(timeout=30)
    parent_ids = [new_event_id() for _ in range(100)]
    assert not set(child_ids) & set(parent_ids)
    assert {i[-12:] for i in child_ids} != {i[-12:] for i in parent_ids}


# -- unvalidated construction: the engine's own events, data not validated again ----------


@given(
    topic=TOPICS,
    data=st.dictionaries(TEXT, JSON_VALUES, max_size=5),
    task_id=st.none() | TEXT,
    causation_id=st.none() | TEXT,
)
def test_an_unvalidated_event_is_the_event_validation_would_build(
    topic: str, data: dict[str, JsonValue], task_id: str | None, causation_id: str | None
) -> None:
    fast = Event.unvalidated(topic, "step.queued", data, task_id=task_id, causation_id=causation_id)
    checked = Event(
        id=fast.id,
        time=fast.time,
        topic=topic,
        type="step.queued",
        data=data,
        task_id=task_id,
        causation_id=causation_id,
    )
    assert fast == checked
    assert fast.to_json() == checked.to_json()
    assert Event.from_json(fast.to_json()) == fast
    assert fast.time.tzinfo is UTC
    assert fast.data is data  # not copied: the builder vouches that it no longer changes


def test_unvalidated_events_get_fresh_ids_and_stay_immutable() -> None:
    first, second = (Event.unvalidated("a.b", "t", {}) for _ in range(2))
    assert first.id < second.id
    with pytest.raises(ValidationError):
        first.topic = "c"  # type: ignore[misc]


def test_an_unvalidated_event_still_checks_its_topic_and_type() -> None:
    with pytest.raises(InvalidTopicError, match="empty token at position 2"):
        Event.unvalidated("a..b", "t", {})
    with pytest.raises(InvalidTopicError, match="wildcard"):
        Event.unvalidated("a.*", "t", {})
    with pytest.raises(BusError, match="type"):
        Event.unvalidated("a", "", {})


async def test_emit_unvalidated_delivers_like_emit_and_emit_still_refuses_bad_data() -> None:
    from agent_relay.bus import InMemoryBus

    async with InMemoryBus() as bus:
        subscription = bus.subscribe("jobs.>")
        sent = await bus.emit_unvalidated("jobs.1", "job", {"n": [1, "two"]}, task_id="t1")
        assert subscription.receive_nowait() is sent
        assert (sent.task_id, sent.causation_id, sent.data) == ("t1", None, {"n": [1, "two"]})
        with pytest.raises(EventDataError, match=r"data\['x'\] is of type set"):
            await bus.emit("jobs.2", "job", {"x": {1}})
        assert bus.stats().published == 1


def test_data_as_takes_the_attached_model_or_validates_the_data() -> None:
    from pydantic import BaseModel, ValidationError

    class Greeting(BaseModel):
        to: str

    made = Greeting(to="Ada")
    local = Event.unvalidated("greet.en", "greeting", made.model_dump(), attached=made)
    assert local.data_as(Greeting) is made  # in process: the publisher's own model
    remote = Event.from_json(local.to_json())  # crossed a process boundary: validated
    assert remote.attached is None
    assert remote.data_as(Greeting) == made and remote.data_as(Greeting) is not made
    other = Event.unvalidated("greet.en", "greeting", {"to": 3}, attached=object())
    with pytest.raises(ValidationError):
        other.data_as(Greeting)  # an attachment of another kind is not taken
