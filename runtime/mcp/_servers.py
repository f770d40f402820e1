"""``McpServers``: the MCP servers a runtime owns, their sessions, and their tools as relay
function tools.

Entered as an async context manager (the runtime does it), it owns a task group in which
each server's session is held open, lazily, from its first use until the set is closed.
``tools(...)`` lists the chosen servers' tools (cached per server, see ``McpConnection``)
and wraps each in a ``FunctionTool`` named ``<server>__<tool>``, with the tool's own JSON
schema and its approval class taken from the tool's annotations:

- ``readOnlyHint``: not risky (like ``read_file``);
- otherwise risky unless the tool says it is neither destructive nor open-world (like
  ``write_file`` to a new file). The MCP defaults (no annotations) are destructive and
  open-world, so an unannotated tool is risky, like ``execute_code`` and ``download_file``.

Annotations are the server's word, so they only classify; ``tool_approvals`` rules by tool
name (``{"mcp": {"*": "always"}}``) decide over them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from loguru import logger

from ..assistants._tools import FunctionTool
from ._config import McpConfigError, McpServer, mcp_servers_from
from ._connection import McpConnection, McpServerError
from ._names import prefixed_name

if TYPE_CHECKING:
    import mcp_types


def tool_is_risky(annotations: mcp_types.ToolAnnotations | None) -> bool:
    """Whether a call of a tool with these annotations is risky (see the module docstring)."""
    if annotations is None:
        return True
    if annotations.read_only_hint:
        return False
    destructive = annotations.destructive_hint is not False
    open_world = annotations.open_world_hint is not False
    return destructive or open_world


class McpServers:
    """See the module docstring. ``servers``: ``McpServer``s, or a mapping of names to
    tables as ``relay.toml`` gives them. ``in_process`` maps a server's name to an
    in-process SDK server (``MCPServer``) to connect to instead of its command or URL: for
    tests.

    Raises:
        McpConfigError: a bad server entry, two of one name, or ``in_process`` naming a
            server not configured.
    """

    def __init__(
        self,
        servers: Iterable[McpServer] | Mapping[str, Any] | None = (),
        *,
        in_process: Mapping[str, object] | None = None,
    ) -> None:
        configs = mcp_servers_from(servers if isinstance(servers, Mapping) else list(servers or ()))
        in_process = dict(in_process or {})
        unknown = sorted(set(in_process) - {c.name for c in configs})
        if unknown:
            raise McpConfigError(f"in_process names unconfigured MCP servers: {unknown}")
        self._tg: TaskGroup | None = None
        self._connections = {
            c.name: McpConnection(c, self._start, target=in_process.get(c.name)) for c in configs
        }

    @property
    def names(self) -> tuple[str, ...]:
        """The servers' names, in the order given."""
        return tuple(self._connections)

    @property
    def configs(self) -> tuple[McpServer, ...]:
        return tuple(c.config for c in self._connections.values())

    def __len__(self) -> int:
        return len(self._connections)

    def connection(self, name: str) -> McpConnection:
        """The connection to server ``name``.

        Raises:
            McpConfigError: no server of that name (the message lists them).
        """
        try:
            return self._connections[name]
        except KeyError:
            known = ", ".join(self._connections) or "none"
            raise McpConfigError(
                f"no MCP server is named {name[:40]!r}; configured: {known}"
            ) from None

    async def __aenter__(self) -> McpServers:
        if self._tg is not None:
            raise RuntimeError("McpServers is entered already")
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        if tg is None:
            return None
        for connection in self._connections.values():
            await connection.aclose()
        return await tg.__aexit__(exc_type, exc, tb)

    async def _start(self, serve: Callable[..., Coroutine[Any, Any, None]]) -> Any:
        if self._tg is None:
            raise McpServerError("the MCP servers are not open (use `async with McpServers(...)`)")
        return await self._tg.start(serve)

    async def tools(
        self,
        servers: Sequence[str] | None = None,
        *,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] = (),
    ) -> list[FunctionTool[..., Any]]:
        """The tools of ``servers`` (all when None), as function tools named
        ``<server>__<tool>``. ``allow`` and ``deny`` are shell-style patterns over those
        names (``files__read_*``, ``github__*``): with ``allow``, only tools it matches;
        then none that ``deny`` matches; each server's own ``allow`` and ``deny`` apply
        first. A tool whose schema relay cannot offer a model is
        left out with a warning in the log. A server that cannot be reached while others can
        is left out too, with a warning: one server down does not take the others' tools away.

        Raises:
            McpConfigError: a name in ``servers`` is not configured.
            McpServerError: no chosen server can be reached or list its tools (the first
                one's error).
        """
        chosen = [self.connection(n) for n in (self.names if servers is None else servers)]
        listed: list[list[mcp_types.Tool]] = [[] for _ in chosen]
        failed: list[McpServerError] = []

        async def list_one(index: int, connection: McpConnection) -> None:
            try:
                listed[index] = await connection.list_tools()
            except McpServerError as error:
                failed.append(error)

        try:
            async with anyio.create_task_group() as tg:
                for index, connection in enumerate(chosen):
                    tg.start_soon(list_one, index, connection)
        except BaseExceptionGroup as group:
            first = group.exceptions[0]
            raise first if isinstance(first, Exception) else group from None
        if failed and len(failed) == len(chosen):
            raise failed[0]
        for error in failed:
            logger.warning("{}; its tools are left out", error)
        out: list[FunctionTool[..., Any]] = []
        seen: set[str] = set()
        for connection, tools in zip(chosen, listed, strict=True):
            config = connection.config
            names = [prefixed_name(connection.name, t.name) for t in tools]
            if (
                tools
                and config.allow is not None
                and not any(_matches(n, config.allow) for n in names)
            ):
                # Most likely a bare tool name where the prefixed one is matched.
                logger.warning(
                    "MCP server {}: allow = {} matches none of its tools ({}); patterns match "
                    "the prefixed names, such as {}*",
                    connection.name,
                    list(config.allow),
                    ", ".join(names[:5]) + (", ..." if len(names) > 5 else ""),
                    f"{connection.name}__",
                )
            for mcp_tool, name in zip(tools, names, strict=True):
                if not _chosen(name, config.allow, config.deny) or not _chosen(name, allow, deny):
                    continue
                made = _function_tool(connection, mcp_tool, name)
                if made is None or made.name in seen:
                    continue
                seen.add(made.name)
                out.append(made)
        return out


def _chosen(name: str, allow: Sequence[str] | None, deny: Sequence[str]) -> bool:
    """Whether ``allow`` (None: anything) lets ``name`` through and ``deny`` does not stop it."""
    if allow is not None and not _matches(name, allow):
        return False
    return not _matches(name, deny)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _function_tool(
    connection: McpConnection, mcp_tool: mcp_types.Tool, name: str
) -> FunctionTool[..., Any] | None:
    tool_name = mcp_tool.name

    async def call(arguments: dict[str, Any]) -> str:
        return await connection.call_tool(tool_name, arguments)

    risky = tool_is_risky(mcp_tool.annotations)
    description = mcp_tool.description or mcp_tool.title or ""
    try:
        made: FunctionTool[..., Any] = FunctionTool(
            call,
            name=name,
            description=description,
            # The call stops here and the model reads that it timed out.
            timeout=connection.config.timeout_s,
            parameters=dict(mcp_tool.input_schema),
            risky=risky,
        )
        made.to_tool()  # the definition a model gets must be valid
    except (TypeError, ValueError) as exc:
        logger.warning(
            "MCP server {}: tool {!r} left out, its schema cannot be offered: {}",
            connection.name,
            tool_name,
            exc,
        )
        return None
    return made
