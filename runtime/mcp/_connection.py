"""``McpConnection``: one session with one MCP server, opened on first use.

The session lives in a task of its owner's task group (``McpServers``): the SDK's client is
an async context manager whose inner tasks must be entered and left by one task, so a
serving task holds it open and callers from any task use it. If the server goes away (its
process exits, the HTTP endpoint fails), the serving task records why and ends without
taking its owner down; the next use connects again.

The tool list is cached until the server says it changed: on a 2026-07-28 connection
through a ``subscriptions/listen`` stream, on an older one through the
``notifications/tools/list_changed`` notification. A server that can announce neither
(or whose stream was lost) gets its list fetched for every use, so a stale list is never
served. Each fetch is tagged with a generation, so a change announced while a list is in
flight keeps that list out of the cache.

A tool call never raises for the server's sake: an ``isError`` result, an error response,
a timeout or a lost connection becomes an ``"error: ..."`` text the model reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus
from loguru import logger

from agent_relay.bus import one_line

from .._errors import RelayError
from ._config import McpServer
from ._stderr import StderrPipe

if TYPE_CHECKING:
    import mcp_types
    from mcp import Client

#: Pages of ``tools/list`` read at most: a server whose cursor never ends cannot hang a step.
MAX_TOOL_PAGES = 100

#: Starts the serving task in the owner's task group and waits until it says it started.
StartTask = Callable[[Callable[..., Coroutine[Any, Any, None]]], Awaitable[Any]]


class McpServerError(RelayError):
    """An MCP server cannot be reached or answered out of protocol; the message names it."""


class McpConnection:
    """See the module docstring. ``target``, for tests, is what the SDK's ``Client`` connects
    to instead of the configured transport (an in-process ``MCPServer``)."""

    def __init__(self, config: McpServer, start: StartTask, *, target: object = None) -> None:
        self.config = config
        self._start = start
        self._target = target
        self._client: Client | None = None
        self._closing = anyio.Event()
        self._failure: str | None = None
        self._open_lock = anyio.Lock()
        self._tools: list[mcp_types.Tool] | None = None
        self._generation = 0
        #: Whether the server will tell us when its tool list changes (so it may be cached).
        self._announces = False
        #: How many sessions were opened (the first use, and each reconnect after a loss).
        self.sessions_opened = 0

    @property
    def name(self) -> str:
        return self.config.name

    async def list_tools(self) -> list[mcp_types.Tool]:
        """The server's tools, from the cache while the server has not said they changed.

        Raises:
            McpServerError: the server cannot be reached, or failed to list its tools.
        """
        client = await self._session()
        cached = self._tools
        if cached is not None:
            return cached
        generation = self._generation
        try:
            tools: list[mcp_types.Tool] = []
            cursor: str | None = None
            for _ in range(MAX_TOOL_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
            else:
                raise McpServerError(
                    f"MCP server {self.config.describe()} lists its tools in more than "
                    f"{MAX_TOOL_PAGES} pages; relay reads at most {MAX_TOOL_PAGES}"
                )
        except McpServerError:
            raise
        except Exception as exc:
            if _connection_closed(exc):
                self._lost(client)
            raise McpServerError(
                f"MCP server {self.config.describe()} could not list its tools: {_why(exc)}"
            ) from None
        if self._announces and generation == self._generation:
            self._tools = tools
        return tools

    def tools_changed(self) -> None:
        """Forget the cached tool list (the server said it changed)."""
        self._generation += 1
        self._tools = None

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> str:
        """Call ``tool`` (the server's own name for it) and return the text the model reads:
        the result's content, or ``"error: ..."`` (the tool reported an error, the server
        refused the call, it timed out after ``timeout_s`` plus a 5 s margin, or the server
        is unreachable)."""
        where = f"MCP server {self.config.name!r}"
        try:
            client = await self._session()
        except McpServerError as exc:
            return f"error: {exc}"
        try:
            # The function tool around this call stops it at timeout_s and says so; the
            # request's own timeout is the backstop for direct callers.
            result = await client.call_tool(
                tool, arguments, read_timeout_seconds=self.config.timeout_s + 5
            )
        except Exception as exc:
            if _connection_closed(exc):
                self._lost(client)
            logger.info("{} tool {} failed: {}", where, tool, _why(exc))
            return f"error: {where} could not run {tool}: {_why(exc)}"
        text = result_text(result)
        if result.is_error:
            return f"error: {text or f'{where} reported an error in {tool} without a message'}"
        return text

    async def _session(self) -> Client:
        async with self._open_lock:
            if self._client is None:
                self._closing = anyio.Event()
                self._failure = None
                await self._start(self._serve)
            if self._client is None:
                raise McpServerError(
                    f"MCP server {self.config.describe()} is not reachable: {self._failure}"
                )
            return self._client

    async def aclose(self) -> None:
        """End the session (the stdio server's process with it); it may open again."""
        self._closing.set()

    def _make_client(self, stderr: StderrPipe | None) -> Client:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp_types import Implementation

        target: Any = self._target
        if target is None and self.config.command is not None:
            parameters = StdioServerParameters(
                command=self.config.command,
                args=list(self.config.args),
                env={k: v.get_secret_value() for k, v in self.config.env.items()},
                cwd=self.config.cwd,
            )
            assert stderr is not None
            target = stdio_client(parameters, errlog=stderr.write)
        elif target is None:
            target = self._http_transport()
        return Client(
            target,
            # The read timeout bounds the greeting and the listings; each call has its own.
            read_timeout_seconds=self.config.connect_timeout_s,
            message_handler=self._on_message,
            client_info=Implementation(name="relay", version=_relay_version()),
            # This connection caches the tool list itself, on the server's word.
            cache=None,
            mode=self.config.protocol,
        )

    @asynccontextmanager
    async def _http_transport(self) -> AsyncIterator[Any]:
        """Streamable HTTP over an HTTP client of our own, sending the configured headers
        (the SDK's transport leaves a client it is given for its owner to close)."""
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        # No read timeout on the connection: the server may hold a stream open; each
        # request is bounded by the session's read timeout instead.
        timeout = httpx2.Timeout(self.config.connect_timeout_s, read=None)
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
            streamable_http_client(self.config.url or "", http_client=http) as streams,
        ):
            yield streams

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Hold one session open until ``aclose``, its loss, or its failure (see the module
        docstring); says it started once the session is usable or has failed."""
        started = False
        closing = self._closing
        client: Client | None = None
        stdio = self._target is None and self.config.command is not None
        secrets = [
            v.get_secret_value() for v in (*self.config.env.values(), *self.config.headers.values())
        ]
        stderr = StderrPipe(self.config.name, secrets) if stdio else None
        failure: BaseException | None = None
        try:
            async with anyio.create_task_group() as readers:
                if stderr is not None:
                    readers.start_soon(stderr.forward)
                # The whole greeting (start, handshake, the listen stream) is bounded; once
                # the session is usable, the deadline is lifted.
                deadline = anyio.current_time() + self.config.connect_timeout_s
                try:
                    with anyio.CancelScope(deadline=deadline) as connecting:
                        async with (
                            self._make_client(stderr) as client,
                            anyio.create_task_group() as watchers,
                        ):
                            if stderr is not None:
                                stderr.close_write()  # the child has its own copy now
                            await watchers.start(self._watch_tools, client)
                            connecting.deadline = math.inf
                            self._client = client
                            self.sessions_opened += 1
                            started = True
                            task_status.started()
                            await closing.wait()
                            watchers.cancel_scope.cancel()
                    if connecting.cancelled_caught and not started:
                        failure = TimeoutError(
                            f"no answer within {self.config.connect_timeout_s:g} s"
                        )
                except Exception as exc:
                    failure = exc
                finally:
                    if stderr is not None:
                        stderr.close_write()
        except Exception as exc:
            failure = failure or exc
        finally:
            # A session given up for lost may end after a new one opened: leave that one be.
            if client is None or self._client is client:
                self._client = None
                self._announces = False
            self.tools_changed()
            if failure is not None:
                said = stderr.last_words() if stderr is not None else ""
                self._failure = _why(failure) + (f" (the server said: {said})" if said else "")
                what = "session ended" if started else "cannot connect"
                logger.warning("MCP server {} {}: {}", self.config.describe(), what, self._failure)
            if not started:
                task_status.started()

    def _lost(self, client: Client) -> None:
        """The session's connection is closed (the server exited): end it, so the next use
        opens a new one."""
        if self._client is client:
            self._client = None
            self._announces = False
            self.tools_changed()
            self._closing.set()

    async def _watch_tools(
        self, client: Client, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep ``_announces`` true while the server will tell us of a changed tool list."""
        from mcp.client.subscriptions import ToolsListChanged
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            # Older protocols announce changes as notifications (see _on_message), when the
            # server declares it will.
            capability = client.server_capabilities.tools
            self._announces = bool(capability and capability.list_changed)
            task_status.started()
            return
        said = False
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                self._announces = subscription.honored.tools_list_changed is True
                said = True
                task_status.started()
                if not self._announces:
                    return
                async for event in subscription:
                    if isinstance(event, ToolsListChanged):
                        self.tools_changed()
        except Exception as exc:
            logger.info(
                "MCP server {}: tool list changes cannot be heard ({}); listing every time",
                self.config.name,
                _why(exc),
            )
        finally:
            self._announces = False
            self.tools_changed()
            if not said:
                task_status.started()

    async def _on_message(self, message: object) -> None:
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification):
            self.tools_changed()
        await anyio.lowlevel.checkpoint()


def result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result as text: its text blocks in order, other blocks described in a line
    each (an image's bytes are not shown to the model), or the structured content as JSON
    when the result has no content blocks."""
    import mcp_types

    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            parts.append(f"[{block.type} {block.mime_type}, {len(block.data)} base64 characters]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource {block.uri}" + (f": {block.name}]" if block.name else "]"))
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[binary resource {resource.uri}]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, default=str)
    return "\n".join(parts)


def _connection_closed(exc: BaseException) -> bool:
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    return isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED


def _why(exc: BaseException) -> str:
    """One line for an error, digging into exception groups for the first real cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {one_line(exc, blank='no message')}"


def _relay_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agent-relay")
    except PackageNotFoundError:  # pragma: no cover - relay runs installed
        return "0"
