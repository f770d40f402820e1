"""``McpServer``: how to reach one MCP server, either a command relay starts and talks to
over its stdin and stdout (stdio) or a URL it talks Streamable HTTP to.

Plain pydantic, no MCP SDK: the command line reads these from ``relay.toml`` and flags
without paying for the SDK's import. Values that may be secrets (the child's environment,
the HTTP headers) are ``SecretStr``, so a config printed or logged shows ``**********``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from .._errors import RelayError

#: A server's name: it prefixes its tools' names (``<server>__<tool>``), so it is short and
#: made of what a function name may hold, without the separator ``__``.
SERVER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9-]{0,29}(?:_[A-Za-z0-9-]+)*$"
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)


class McpConfigError(RelayError):
    """An MCP server's configuration cannot be used; the message names the server and why."""


class McpServer(BaseModel):
    """One MCP server. Give ``command`` (stdio: relay starts it, ``args``, ``env`` and
    ``cwd`` as given) or ``url`` (Streamable HTTP, ``http://`` or ``https://``, with
    ``headers``), not both.

    The stdio child's environment is ``env`` over the MCP SDK's short list of variables a
    program needs to start (``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``, ``TERM``, ``USER``):
    never relay's own environment, so no key of relay's reaches it unless ``env`` names it.

    ``timeout_s``: seconds one tool call may take (its answer is then an error the model
    reads); ``connect_timeout_s``: seconds to start and greet the server. ``protocol``:
    ``"auto"`` (the SDK's default) or ``"legacy"`` (see the field). ``allow`` / ``deny``:
    shell-style patterns over the prefixed tool names, for every agent (each agent may
    narrow them further with its own ``mcp_allow`` / ``mcp_deny``). ``agents``: the
    agents (by name) this server's tools are attached to, as if each named it in its own
    ``mcp_servers``; the ``mcp`` agent has every server's anyway.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="prefixes the server's tool names: <name>__<tool>")
    command: str | None = Field(default=None, description="the program to start (stdio)")
    args: tuple[str, ...] = ()
    env: dict[str, SecretStr] = Field(
        default_factory=dict, description="the stdio child's environment (besides PATH etc.)"
    )
    cwd: Path | None = None
    url: str | None = Field(default=None, description="the Streamable HTTP endpoint")
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=30.0, gt=0)
    allow: tuple[str, ...] | None = Field(
        default=None,
        description="the only tools offered to any agent: shell-style patterns over "
        "<server>__<tool>",
    )
    deny: tuple[str, ...] = Field(
        default=(), description="tools never offered: patterns over <server>__<tool>"
    )
    agents: tuple[str, ...] = Field(
        default=(),
        description="agents that get this server's tools besides the mcp agent, by name",
    )
    protocol: Literal["auto", "legacy"] = Field(
        default="auto",
        description="auto: probe for the 2026-07-28 protocol, else greet as before; legacy: "
        "only the initialize handshake (for servers that answer the probe badly)",
    )

    @model_validator(mode="after")
    def _check(self) -> McpServer:
        if not _SERVER_NAME.match(self.name) or "__" in self.name:
            raise ValueError(
                f"server name {self.name[:40]!r} must be 1-30 letters, digits, '-' or single "
                "'_', starting with a letter"
            )
        if (self.command is None) == (self.url is None):
            raise ValueError(
                "give either command (a server relay starts) or url (a Streamable HTTP "
                "server), not " + ("both" if self.command is not None else "neither")
            )
        if self.command is not None:
            if not self.command.strip():
                raise ValueError("command is empty")
            if self.headers:
                raise ValueError("headers are for url servers; a command server takes env")
        if self.url is not None:
            parts = urlsplit(self.url)
            try:
                parts.port  # noqa: B018 - raises for a port out of range
            except ValueError:
                raise ValueError("url has a bad port") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # The value is not repeated: its query may carry a key.
                raise ValueError("url must be http:// or https:// with a host")
            if self.args or self.env or self.cwd is not None:
                raise ValueError("args, env and cwd are for command servers, not url ones")
        for key in self.env:
            if not key or "=" in key or "\0" in key:
                raise ValueError(f"env name {key!r} is not a valid variable name")
        return self

    @property
    def transport(self) -> str:
        """``"stdio"`` or ``"http"``."""
        return "stdio" if self.command is not None else "http"

    def describe(self) -> str:
        """Where the server is, for messages: the command, or the URL without its user,
        password and query (which may carry keys)."""
        if self.command is not None:
            return f"{self.name} (stdio: {self.command})"
        parts = urlsplit(self.url or "")
        port = f":{parts.port}" if parts.port else ""
        return f"{self.name} ({parts.scheme}://{parts.hostname}{port}{parts.path})"


def mcp_servers_from(value: object) -> tuple[McpServer, ...]:
    """MCP servers from what a user gives: ``McpServer``s, or a mapping of names to tables
    (``relay.toml``'s ``[mcp_servers.<name>]``, the ``--mcp-servers`` JSON), or a list of
    tables that each carry their ``name``.

    Raises:
        McpConfigError: a bad entry (one line naming the server and the problem), two
            servers of the same name, or a value of another shape.
    """
    items: list[tuple[str | None, object]]
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items = [(str(name), table) for name, table in value.items()]
    elif isinstance(value, list | tuple):
        items = [(None, table) for table in value]
    else:
        raise McpConfigError(
            "mcp_servers must be a table of servers by name (or a list of McpServer), "
            f"not {type(value).__name__}"
        )
    servers: list[McpServer] = []
    for name, table in items:
        servers.append(_one(name, table))
    names = [s.name for s in servers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise McpConfigError(f"two MCP servers are named {', '.join(twice)}")
    return tuple(servers)


def _one(name: str | None, table: object) -> McpServer:
    if isinstance(table, McpServer):
        if name is not None and table.name != name:
            return table.model_copy(update={"name": name})
        return table
    label = repr(name) if name is not None else "an entry"
    if not isinstance(table, Mapping):
        raise McpConfigError(
            f"MCP server {label}: must be a table (command or url, ...), not {type(table).__name__}"
        )
    fields: dict[str, Any] = dict(table)
    if name is not None:
        if "name" in fields and fields["name"] != name:
            raise McpConfigError(f"MCP server {label}: its name is its key; drop 'name'")
        fields["name"] = name
    try:
        return McpServer.model_validate(fields)
    except ValidationError as exc:
        raise McpConfigError(f"MCP server {label}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """What is wrong, never the values (an env value or a header may be a secret)."""
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return "; ".join(out)
