"""The event: the one message type that travels on the bus, in memory or over a network."""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticSerializationError

from ._errors import BusError, EventDataError, InvalidTopicError
from ._ids import new_event_id
from ._time import utc_now
from ._topics import validate_topic
from ._trusted import trusted

ModelT = TypeVar("ModelT", bound=BaseModel)
_UNVALIDATED_FIELDS = {"topic", "type", "data", "task_id", "causation_id", "metadata"}
_JSON_TYPES = "dict with str keys, list, str, int, float, bool or None"


class Event(BaseModel):
    """Something that happened, published on a concrete ``topic``.

    Events are immutable and validated once, when built; the bus passes the same object to
    every subscriber without copying or re-validating it. ``data`` holds JSON values only, so
    an event crosses a network transport unchanged: ``Event.from_json(e.to_json()) == e``.

    Raises:
        InvalidTopicError: ``topic`` or ``reply_to`` breaks the topic grammar.
        EventDataError: ``data`` is not JSON values.
        pydantic.ValidationError: another field is bad (an empty ``type``, a naive ``time``,
            an unknown field...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    # Not a field: see ``attached``. A slot is neither compared, copied nor serialized.
    __slots__ = ("_attached",)

    id: str = Field(default_factory=new_event_id, min_length=1)
    """Unique, and sortable by creation time (see :func:`new_event_id`)."""
    topic: str
    """The concrete topic the event is published on, e.g. ``task.42.step.a.completed``."""
    type: str = Field(min_length=1)
    """What happened, e.g. ``step.completed``."""
    time: AwareDatetime = Field(default_factory=utc_now)
    """When it happened, in UTC."""
    task_id: str | None = None
    causation_id: str | None = None
    """The id of the event that caused this one."""
    reply_to: str | None = None
    """The inbox topic a reply goes to, for requests."""
    data: dict[str, JsonValue] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict, exclude_if=lambda value: not value)
    """Context that travels with the event but is not its content, as strings: the W3C trace
    context (``traceparent``, ``tracestate``) of the work that published it, say. Left out of
    the JSON when empty, so readers and recordings from before it see the same events."""

    @field_validator("topic", "reply_to")
    @classmethod
    def _check_topic(cls, value: str | None) -> str | None:
        return None if value is None else validate_topic(value)

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    if not TYPE_CHECKING:  # type checkers keep the signature pydantic derives from the fields

        def __init__(self, /, **values: Any) -> None:
            # Events are built on the hot path: a plain try costs nothing when the values are
            # good, unlike a wrap validator; a bad one turns into the error a caller can act on.
            try:
                self.__pydantic_validator__.validate_python(values, self_instance=self)
            except ValidationError as exc:
                raise _clear_error(exc, values) from None

    @classmethod
    def unvalidated(
        cls,
        topic: str,
        type: str,
        data: dict[str, Any],
        *,
        task_id: str | None = None,
        causation_id: str | None = None,
        metadata: dict[str, str] | None = None,
        attached: object = None,
    ) -> Event:
        """Build an event without validating ``data``, for data its builder vouches for: JSON
        values only, made from values validated already (say, ``model_dump(mode="json")`` of a
        checked model), and no longer changed by anyone. ``data`` is neither validated nor
        copied. Never use it for data from users or models: :meth:`Bus.emit` validates those.
        ``metadata`` (strings only) is not validated either. ``attached``: see
        :attr:`attached`.

        Raises:
            InvalidTopicError: ``topic`` breaks the topic grammar (it is still checked).
            BusError: ``type`` is empty.
        """
        validate_topic(topic)
        if not type:
            raise BusError("an event's type must not be empty")
        # Every field given, with one set of the names ``model_construct`` would record as
        # given, shared by all such events (a copy of the event copies it): 2-3 µs of the 4
        # an event cost went to ``model_construct``'s per-field bookkeeping.
        event = trusted(
            cls,
            {
                "id": new_event_id(),
                "topic": topic,
                "type": type,
                "time": utc_now(),
                "task_id": task_id,
                "causation_id": causation_id,
                "reply_to": None,
                "data": data,
                "metadata": {} if metadata is None else metadata,
            },
            fields_set=_UNVALIDATED_FIELDS,
        )
        if attached is not None:
            object.__setattr__(event, "_attached", attached)
        return event

    @property
    def attached(self) -> object:
        """The object ``data`` was made from, when its publisher attached it and the event
        has not left the process: a subscriber in the same process may use it instead of
        validating ``data`` again (say, the step a master dumped into an assignment). None
        for events that came over a network, from JSON, or without one. Never part of the
        event's JSON, equality or copies."""
        attached: object = getattr(self, "_attached", None)
        return attached

    def data_as(self, model: builtins.type[ModelT]) -> ModelT:
        """``data`` as a ``model``: the attached object itself when it is one (it came from
        a publisher in this process, see :attr:`attached`), else ``data`` validated, as
        for anything that crossed a process boundary.

        Raises:
            pydantic.ValidationError: ``data`` is not a valid ``model``.
        """
        attached = getattr(self, "_attached", None)
        if isinstance(attached, model):
            return attached
        return model.model_validate(self.data)

    def to_json(self) -> bytes:
        """Serialize to compact JSON bytes (what a network transport sends).

        Raises:
            EventDataError: a string is not valid Unicode (a lone surrogate, as
                ``surrogateescape`` decoding makes): it cannot be encoded as UTF-8.
        """
        try:
            return self.__pydantic_serializer__.to_json(self)
        except PydanticSerializationError as exc:
            raise EventDataError(
                f"event {self.id} on {self.topic!r} cannot be serialized: {exc}"
            ) from None

    @classmethod
    def from_json(cls, raw: bytes | str) -> Self:
        """Parse JSON made by :meth:`to_json`.

        Raises:
            EventDataError: ``raw`` is not JSON, or not a valid event.
        """
        try:
            return cls.model_validate_json(raw)
        except (ValidationError, BusError) as exc:
            raise EventDataError(f"invalid event JSON: {_first_problem(exc)}") from None


def _clear_error(exc: ValidationError, values: dict[str, Any]) -> Exception:
    """The one-line error for a bad topic or bad data, else pydantic's own report."""
    for error in exc.errors(include_url=False):
        field = error["loc"][0] if error["loc"] else None
        cause = error.get("ctx", {}).get("error")
        if field in ("topic", "reply_to") and isinstance(cause, InvalidTopicError):
            return cause
        if field == "data":
            return EventDataError(_describe_bad_data(values["data"], exc))
    return exc


def _first_problem(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    error = exc.errors(include_url=False)[0]
    cause = error.get("ctx", {}).get("error")
    problem = str(cause) if isinstance(cause, Exception) else error["msg"]
    where = ".".join(str(part) for part in error["loc"])
    more = exc.error_count() - 1
    return (f"{where}: " if where else "") + problem + (f" (and {more} more)" if more else "")


def _describe_bad_data(value: object, exc: ValidationError) -> str:
    """One line naming the first part of ``value`` that is not JSON, and why."""
    if not isinstance(value, Mapping):
        return f"event data must be a dict, not {type(value).__name__}"
    found = _first_non_json(value, "data")
    if found is None:  # cannot happen for the types pydantic rejects; keep its own words
        return f"event data is not JSON: {exc.errors(include_url=False)[0]['msg']}"
    return f"event data is not JSON: {found}"


def _first_non_json(value: object, path: str) -> str | None:
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value} (not a finite number)"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has key {key!r} of type {type(key).__name__} (keys must be str)"
            found = _first_non_json(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_non_json(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return f"{path} is of type {type(value).__name__} (allowed: {_JSON_TYPES})"
