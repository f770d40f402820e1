"""Tools from Python callables: ``@tool`` turns a sync or async function into a
``FunctionTool`` whose JSON schema comes from its type hints and docstring.

Everything a model writes is untrusted: a ``FunctionTool`` validates the raw JSON arguments
before calling the function, and malformed JSON, bad arguments, a function that raises or one
that exceeds its timeout all become an ``"error: ..."`` output the model reads, so the run
goes on instead of crashing.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import anyio.to_thread
import pydantic_core
from loguru import logger
from pydantic import ValidationError

from agent_relay.bus import one_line

from .. import _tracing
from .._errors import RelayError
from ._given_schema import ArgumentsError, GivenArguments
from ._schema import ArgumentsSpec, describe_validation_error
from ._types import FUNCTION_NAME_PATTERN, Function, Parameters, Tool, ToolCall, ToolOutput

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds a tool may run before its call is answered with a timeout error.
DEFAULT_TOOL_TIMEOUT = 60.0
#: Characters of tool output kept; the rest is cut with a note saying so.
DEFAULT_MAX_OUTPUT_CHARS = 16_000

#: Whether a call is risky (it runs code, downloads, overwrites...), from its arguments as
#: the model wrote them: what an approval rule of ``risky`` asks.
RiskCheck = Callable[[dict[str, Any]], bool]
#: Looks at a call before it runs: returns the call to run (maybe with other arguments) or
#: the output to answer it with instead (a rejection); may raise ``RelayError`` to stop.
ToolCallReview = Callable[["FunctionTool[..., Any]", ToolCall], Awaitable[ToolCall | ToolOutput]]


class FunctionTool(Generic[P, R]):
    """A Python function a model may call. Calling the tool object calls the function.

    The arguments' JSON schema comes from the function's signature, unless ``parameters``
    gives one (an MCP tool's input schema): the function then takes the model's arguments
    as one dict, checked against that schema first.

    Raises:
        ValueError: a bad name, timeout or ``max_output_chars``.
        TypeError: the signature cannot be described as JSON, or ``parameters`` is not a
            JSON schema of an object.
    """

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = DEFAULT_TOOL_TIMEOUT,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        risky: bool | RiskCheck = False,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.function = function
        self._risky = risky
        self.name: str = name or str(getattr(function, "__name__", ""))
        if not re.fullmatch(FUNCTION_NAME_PATTERN, self.name):
            raise ValueError(
                f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'; "
                "pass name=... to @tool"
            )
        if timeout is not None and timeout <= 0:
            raise ValueError(f"tool {self.name!r}: timeout must be positive, got {timeout}")
        if max_output_chars < 1:
            raise ValueError(f"tool {self.name!r}: max_output_chars must be at least 1")
        self._arguments: ArgumentsSpec | GivenArguments = (
            ArgumentsSpec(function, self.name)
            if parameters is None
            else GivenArguments(parameters, self.name, description or "")
        )
        self.description = description if description is not None else self._arguments.description
        self.timeout = timeout
        self.max_output_chars = max_output_chars
        # Objects whose __call__ is async count as async functions too.
        self._is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            type(function).__call__
        )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool(name={self.name!r})"

    def is_risky(self, arguments: dict[str, Any]) -> bool:
        """Whether this call is risky (see ``risky``); a check that raises counts as yes."""
        if not callable(self._risky):
            return self._risky
        try:
            return bool(self._risky(arguments))
        except Exception:
            return True

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments."""
        return self._arguments.json_schema

    def to_tool(self) -> Tool:
        """The tool's definition, for ``CreateAgentRequest.tools``."""
        return Tool(
            type="function",
            function=Function(
                name=self.name,
                description=self.description,
                parameters=Parameters.model_validate(self.parameters),
            ),
        )

    def definition(self) -> dict[str, Any]:
        """The tool in the OpenAI Chat Completions format."""
        return self.to_tool().definition()

    async def call(self, arguments: str) -> str:
        """Run the function on the model's raw JSON ``arguments``; always returns text,
        ``"error: ..."`` when the call could not be made or failed."""
        try:
            args, kwargs = self._arguments.validate_json(arguments)
        except ValidationError as error:
            return f"error: {describe_validation_error(error)}"
        except ArgumentsError as error:
            return f"error: {error}"
        with anyio.move_on_after(self.timeout) as scope:
            try:
                result = await self._invoke(args, kwargs)
            except RelayError as error:
                # A refusal the tool made on purpose (bad path, refused URL...): the model
                # reads it; a traceback would only add noise to the log.
                message = one_line(error, blank="no message")
                logger.info("tool {} refused: {}", self.name, message)
                return f"error: {message}"
            except Exception as error:
                logger.opt(exception=error).warning("tool {} raised", self.name)
                message = one_line(error, blank="no message")
                return f"error: tool {self.name!r} raised {type(error).__name__}: {message}"
        if scope.cancelled_caught:
            return f"error: tool {self.name!r} timed out after {self.timeout:g} s"
        return cap_output(output_text(result), self.max_output_chars)

    async def execute(self, call: ToolCall) -> ToolOutput:
        """Answer one tool call with this tool's output."""
        return ToolOutput.from_tool_call(call, await self.call(call.function.arguments))

    async def _invoke(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        function: Callable[..., Any] = self.function
        if self._is_async:
            return await function(*args, **kwargs)
        # A blocking function runs in a worker thread; on timeout the thread is abandoned
        # (Python cannot stop it) and the run goes on.
        result = await anyio.to_thread.run_sync(
            lambda: function(*args, **kwargs), abandon_on_cancel=True
        )
        if inspect.isawaitable(result):
            return await result
        return result


@overload
def tool(function: Callable[P, R], /) -> FunctionTool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = DEFAULT_TOOL_TIMEOUT,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    risky: bool | RiskCheck = False,
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = DEFAULT_TOOL_TIMEOUT,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    risky: bool | RiskCheck = False,
) -> FunctionTool[P, R] | Callable[[Callable[P, R]], FunctionTool[P, R]]:
    """Make a function a tool: ``@tool`` or ``@tool(name=..., description=..., timeout=...)``.

    The description is the docstring; parameter descriptions come from its ``Args:`` section
    or from ``Annotated[..., Field(description=...)]``. ``timeout`` is in seconds (``None``
    for none); output longer than ``max_output_chars`` is cut with a note. ``risky`` says
    whether a call needs a person's approval under the rule ``risky``: always (``True``), or
    as a function of the call's arguments decides.
    """

    def make(f: Callable[P, R]) -> FunctionTool[P, R]:
        return FunctionTool(
            f,
            name=name,
            description=description,
            timeout=timeout,
            max_output_chars=max_output_chars,
            risky=risky,
        )

    return make(function) if function is not None else make


async def execute_tool_calls(
    tools: Sequence[FunctionTool[..., Any]],
    calls: Sequence[ToolCall],
    *,
    review: ToolCallReview | None = None,
) -> list[ToolOutput]:
    """Run the requested calls concurrently; an unknown tool name gets an error output.
    Outputs come back in the order of ``calls``. ``review`` sees each call to a known tool
    first (the approval gate): it may change its arguments or answer it instead.

    Raises:
        RelayError: ``review`` raised it (the first, once every call is answered).
    """
    by_name = tools_by_name(tools)
    outputs: list[ToolOutput | None] = [None] * len(calls)
    stopped: list[RelayError] = []

    async def answer(index: int, call: ToolCall) -> None:
        chosen = by_name.get(call.function.name)
        if chosen is None:
            known = ", ".join(sorted(by_name)) or "none"
            text = f"error: unknown tool {call.function.name!r}; available tools: {known}"
            outputs[index] = ToolOutput.from_tool_call(call, text)
            return
        if review is not None:
            try:
                reviewed = await review(chosen, call)
            except RelayError as error:
                stopped.append(error)
                return
            if isinstance(reviewed, ToolOutput):
                outputs[index] = reviewed
                return
            call = reviewed
        with _tracing.tool_span(call.function.name, call.id, call.function.arguments) as span:
            outputs[index] = output = await chosen.execute(call)
            _tracing.end_tool(span, output.output)

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(answer, index, call)
    if stopped:
        raise stopped[0]
    return [output for output in outputs if output is not None]


def tools_by_name(tools: Sequence[FunctionTool[..., Any]]) -> dict[str, FunctionTool[..., Any]]:
    by_name: dict[str, FunctionTool[..., Any]] = {}
    for item in tools:
        if item.name in by_name:
            raise ValueError(f"two tools are named {item.name!r}; tool names must be unique")
        by_name[item.name] = item
    return by_name


def output_text(value: Any) -> str:
    """A tool's return value as the text a model reads: strings as they are, anything else
    as JSON (pydantic models, dataclasses, dicts, lists...)."""
    if isinstance(value, str):
        return value
    return pydantic_core.to_json(value, fallback=str).decode()


def cap_output(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[output truncated: {len(text)} characters, the first {limit} kept]"
