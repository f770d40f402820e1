"""Test doubles for relay and for the people who build on it.

``FakeOpenAIServer`` is an OpenAI-compatible HTTP server on loopback that scripts replies,
streams them as the real API does, adds latency and acts out faults; point any OpenAI client
(or ``OpenAIChatModel``) at its ``base_url``. The pytest plugin offers it as the
``fake_openai_server`` fixture.
"""

from ._fake_openai import FakeOpenAIServer
from ._fake_png import make_png
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
    RateLimitFault,
    ScriptItem,
    ServerErrorFault,
    SlowFault,
)
from ._loopback import serve_on_loopback
from ._scripted_model import (
    Refusal,
    ScriptedCall,
    ScriptedModel,
    ScriptExhaustedError,
    tool_call,
)

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
    "RateLimitFault",
    "Refusal",
    "ScriptExhaustedError",
    "ScriptItem",
    "ScriptedCall",
    "ScriptedModel",
    "ServerErrorFault",
    "SlowFault",
    "make_png",
    "serve_on_loopback",
    "tool_call",
]
