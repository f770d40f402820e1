"""Test doubles for relay and for the people who build on it.

``FakeOpenAIServer`` is an OpenAI-compatible HTTP server on loopback that scripts replies,
streams them as the real API does, adds latency and acts out faults; point any OpenAI client
(or ``OpenAIChatModel``) at its ``base_url``. The pytest plugin offers it as the
``fake_openai_server`` fixture. ``FakeBedrockAgentsServer`` does the same for the Bedrock
Agents runtime's ``InvokeAgent`` (event streams, return of control, errors), for botocore.

The names are imported on first use (see ``agent_relay.runtime``), so loading the pytest
plugin, or importing the scripted model, does not import aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from ._fake_bedrock import FakeAgentError as FakeAgentError
    from ._fake_bedrock import FakeAgentResponder as FakeAgentResponder
    from ._fake_bedrock import FakeAgentTurn as FakeAgentTurn
    from ._fake_bedrock import FakeApiInvocation as FakeApiInvocation
    from ._fake_bedrock import FakeBedrockAgentsServer as FakeBedrockAgentsServer
    from ._fake_bedrock import FakeFunctionInvocation as FakeFunctionInvocation
    from ._fake_bedrock import FakeInvocation as FakeInvocation
    from ._fake_openai import FakeOpenAIServer as FakeOpenAIServer
    from ._fake_png import make_png as make_png
    from ._fake_quirks import Quirk as Quirk
    from ._fake_requests import FakeRequest as FakeRequest
    from ._fake_requests import FakeRule as FakeRule
    from ._fake_responses import FailedResponseFault as FailedResponseFault
    from ._fake_responses import FakeResponse as FakeResponse
    from ._fake_script import (
        AuthFault as AuthFault,
    )
    from ._fake_script import (
        BadRequestFault as BadRequestFault,
    )
    from ._fake_script import (
        CutStreamFault as CutStreamFault,
    )
    from ._fake_script import (
        FakeReply as FakeReply,
    )
    from ._fake_script import (
        FakeToolCall as FakeToolCall,
    )
    from ._fake_script import (
        FakeUsage as FakeUsage,
    )
    from ._fake_script import (
        Fault as Fault,
    )
    from ._fake_script import (
        FloodFault as FloodFault,
    )
    from ._fake_script import (
        MalformedBodyFault as MalformedBodyFault,
    )
    from ._fake_script import (
        PausedStreamFault as PausedStreamFault,
    )
    from ._fake_script import (
        ProviderErrorFault as ProviderErrorFault,
    )
    from ._fake_script import (
        RateLimitFault as RateLimitFault,
    )
    from ._fake_script import (
        ScriptItem as ScriptItem,
    )
    from ._fake_script import (
        ServerErrorFault as ServerErrorFault,
    )
    from ._fake_script import (
        SlowFault as SlowFault,
    )
    from ._fake_script import (
        TrickleFault as TrickleFault,
    )
    from ._loopback import serve_on_loopback as serve_on_loopback
    from ._scripted_model import (
        Refusal as Refusal,
    )
    from ._scripted_model import (
        ScriptedCall as ScriptedCall,
    )
    from ._scripted_model import (
        ScriptedModel as ScriptedModel,
    )
    from ._scripted_model import (
        ScriptExhaustedError as ScriptExhaustedError,
    )
    from ._scripted_model import (
        tool_call as tool_call,
    )

# The public names, by the module (relative to this package) that defines each; each is
# imported on first use (lazy_loader, SPEC 1).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_fake_bedrock": [
            "FakeAgentError",
            "FakeAgentResponder",
            "FakeAgentTurn",
            "FakeApiInvocation",
            "FakeBedrockAgentsServer",
            "FakeFunctionInvocation",
            "FakeInvocation",
        ],
        "_fake_openai": ["FakeOpenAIServer"],
        "_fake_png": ["make_png"],
        "_fake_quirks": ["Quirk"],
        "_fake_responses": ["FailedResponseFault", "FakeResponse"],
        "_fake_requests": ["FakeRequest", "FakeRule"],
        "_fake_script": [
            "AuthFault",
            "BadRequestFault",
            "CutStreamFault",
            "FakeReply",
            "FakeToolCall",
            "FakeUsage",
            "Fault",
            "FloodFault",
            "MalformedBodyFault",
            "PausedStreamFault",
            "ProviderErrorFault",
            "RateLimitFault",
            "ScriptItem",
            "ServerErrorFault",
            "SlowFault",
            "TrickleFault",
        ],
        "_loopback": ["serve_on_loopback"],
        "_scripted_model": [
            "Refusal",
            "ScriptExhaustedError",
            "ScriptedCall",
            "ScriptedModel",
            "tool_call",
        ],
    },
)
