"""Test doubles for relay and for the people who build on it.

``FakeOpenAIServer`` is an OpenAI-compatible HTTP server on loopback that scripts replies,
streams them as the real API does, adds latency and acts out faults; point any OpenAI client
(or ``OpenAIChatModel``) at its ``base_url``. The pytest plugin offers it as the
``fake_openai_server`` fixture.

The names are imported on first use (see ``agent_relay.runtime``), so loading the pytest
plugin, or importing the scripted model, does not import aiohttp.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._fake_openai import FakeOpenAIServer
    from ._fake_png import make_png
    from ._fake_quirks import Quirk
    from ._fake_requests import FakeRequest, FakeRule
    from ._fake_script import (
        AuthFault,
        BadRequestFault,
        CutStreamFault,
        FakeReply,
        FakeToolCall,
        FakeUsage,
        Fault,
        MalformedBodyFault,
        ProviderErrorFault,
        RateLimitFault,
        ScriptItem,
        ServerErrorFault,
        SlowFault,
        TrickleFault,
    )
    from ._loopback import serve_on_loopback
    from ._scripted_model import (
        Refusal,
        ScriptedCall,
        ScriptedModel,
        ScriptExhaustedError,
        tool_call,
    )

# name -> the module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    "FakeOpenAIServer": "._fake_openai",
    "make_png": "._fake_png",
    "Quirk": "._fake_quirks",
    **dict.fromkeys(["FakeRequest", "FakeRule"], "._fake_requests"),
    **dict.fromkeys(
        [
            "AuthFault",
            "BadRequestFault",
            "CutStreamFault",
            "FakeReply",
            "FakeToolCall",
            "FakeUsage",
            "Fault",
            "MalformedBodyFault",
            "ProviderErrorFault",
            "RateLimitFault",
            "ScriptItem",
            "ServerErrorFault",
            "SlowFault",
            "TrickleFault",
        ],
        "._fake_script",
    ),
    "serve_on_loopback": "._loopback",
    **dict.fromkeys(
        ["Refusal", "ScriptedCall", "ScriptedModel", "ScriptExhaustedError", "tool_call"],
        "._scripted_model",
    ),
}

__all__ = [
    "AuthFault",
    "BadRequestFault",
    "CutStreamFault",
    "FakeOpenAIServer",
    "FakeReply",
    "FakeRequest",
    "FakeRule",
    "FakeToolCall",
    "FakeUsage",
    "Fault",
    "MalformedBodyFault",
    "ProviderErrorFault",
    "Quirk",
    "RateLimitFault",
    "Refusal",
    "ScriptExhaustedError",
    "ScriptItem",
    "ScriptedCall",
    "ScriptedModel",
    "ServerErrorFault",
    "SlowFault",
    "TrickleFault",
    "make_png",
    "serve_on_loopback",
    "tool_call",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
