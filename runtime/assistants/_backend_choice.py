"""Choosing a backend by something that builds one: a name or a factory.

An ``AgentManager`` closes its backend, and closing cancels every run the backend holds, so one
``Backend`` instance cannot serve the many managers of an application that makes one per unit
of work (relay's agents make one per step, and steps run side by side). What such code is
given instead is a ``BackendChoice``: a name of ``BACKEND_NAMES``, or a factory that builds a
new backend from the model each time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from ..models._chat_model import ChatModel
from ._backend import Backend
from ._errors import BackendNotAvailableError

#: Backends a name may select. Remote ones are added here as they are written.
BACKEND_NAMES = ("local", "responses")

#: Builds a new backend from the chat model it is for (which it may ignore, e.g.
#: ``lambda model: BedrockAgentsBackend(region_name="eu-west-1")``).
BackendFactory: TypeAlias = Callable[[ChatModel], Backend]

#: A backend to build each time one is needed: a name of ``BACKEND_NAMES`` or a factory.
BackendChoice: TypeAlias = str | BackendFactory


def unknown_backend(name: object) -> BackendNotAvailableError:
    """The error for a name that selects no backend, listing the names that do."""
    return BackendNotAvailableError(
        f"no backend named {name!r}; available: {', '.join(BACKEND_NAMES)}, or pass a Backend "
        "instance (to AgentManager) or a factory (model) -> Backend"
    )


def check_backend_choice(choice: object) -> BackendChoice:
    """``choice`` checked: a name of ``BACKEND_NAMES`` (spaces and case ignored, returned
    lower-case) or a callable, taken to be a ``BackendFactory``.

    Raises:
        BackendNotAvailableError: a string that names no backend (the message lists them).
        TypeError: a ``Backend`` instance (each manager closes its backend, cancelling every
            run in it, so one instance cannot be shared; give a factory that builds one), or
            anything else.
    """
    if isinstance(choice, Backend):
        raise TypeError(
            f"a {type(choice).__name__} instance cannot be shared by the managers built from "
            "this choice (each closes its backend, cancelling the runs in it); give a factory "
            f"instead: lambda model: {type(choice).__name__}(...)"
        )
    if isinstance(choice, str):
        name = choice.strip().lower()
        if name not in BACKEND_NAMES:
            raise unknown_backend(choice)
        return name
    if callable(choice):
        return choice
    raise TypeError(
        f"a backend is chosen by name ({', '.join(BACKEND_NAMES)}) or by a factory "
        f"(model) -> Backend, not by a value of type {type(choice).__name__}"
    )


def check_backend_model(choice: BackendChoice, model: ChatModel) -> None:
    """Whether the backend ``choice`` names can be built on ``model``, checked without
    building it: ``"responses"`` needs a model with an OpenAI-compatible endpoint. A factory
    is not called (it may open connections); what it builds is checked when it runs.

    Raises:
        BackendNotAvailableError: ``"responses"`` and a model that is not an
            ``OpenAIChatModel``.
    """
    if choice == "responses":
        # Imported here: it brings the openai SDK, which the other backends do not need.
        from ._responses import ResponsesBackend

        ResponsesBackend.endpoint_model(model)


def build_backend(factory: BackendFactory, model: ChatModel) -> Backend:
    """The backend ``factory`` builds for ``model``.

    Raises:
        TypeError: the factory returned something that is not a ``Backend``.
    """
    backend = factory(model)
    if not isinstance(backend, Backend):
        raise TypeError(
            f"the backend factory {getattr(factory, '__qualname__', factory)!r} returned a "
            f"{type(backend).__name__}, not a Backend"
        )
    return backend
