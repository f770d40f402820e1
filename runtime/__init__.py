"""relay's engine: model clients, the assistant layer, plans, the master and the runtime.

The names below are imported on first use (PEP 562 ``__getattr__``), so ``import
agent_relay.runtime`` stays cheap: the command line's ``--help`` and a pytest run that merely
has relay installed never pay for the openai SDK or aiohttp. Type checkers and IDEs read the
same names from the ``TYPE_CHECKING`` block; ``tests/cli/test_startup.py`` keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader
from loguru import logger as _logger

if TYPE_CHECKING:
    from ._errors import (
        ModelAuthenticationError as ModelAuthenticationError,
    )
    from ._errors import (
        ModelBadRequestError as ModelBadRequestError,
    )
    from ._errors import (
        ModelConfigError as ModelConfigError,
    )
    from ._errors import (
        ModelConnectionError as ModelConnectionError,
    )
    from ._errors import (
        ModelError as ModelError,
    )
    from ._errors import (
        ModelNotFoundError as ModelNotFoundError,
    )
    from ._errors import (
        ModelQuotaError as ModelQuotaError,
    )
    from ._errors import (
        ModelRateLimitError as ModelRateLimitError,
    )
    from ._errors import (
        ModelServerError as ModelServerError,
    )
    from ._errors import (
        ModelTimeoutError as ModelTimeoutError,
    )
    from ._errors import (
        RelayError as RelayError,
    )
    from ._handle import TaskHandle as TaskHandle
    from ._inputs import InputError as InputError
    from ._inputs import InputFile as InputFile
    from ._runtime import (
        Runtime as Runtime,
    )
    from ._runtime import (
        RuntimeUsageError as RuntimeUsageError,
    )
    from ._runtime import (
        new_task_id as new_task_id,
    )
    from ._settings import RuntimeSettings as RuntimeSettings
    from ._tracing import configure_tracing as configure_tracing
    from .engine import (
        ENTRY_POINT_GROUP as ENTRY_POINT_GROUP,
    )
    from .engine import (
        Agent as Agent,
    )
    from .engine import (
        AgentActor as AgentActor,
    )
    from .engine import (
        AgentCatalog as AgentCatalog,
    )
    from .engine import (
        AgentContext as AgentContext,
    )
    from .engine import (
        AgentInfo as AgentInfo,
    )
    from .engine import (
        AgentRegistryError as AgentRegistryError,
    )
    from .engine import (
        ApprovalDecision as ApprovalDecision,
    )
    from .engine import (
        ApprovalError as ApprovalError,
    )
    from .engine import (
        ApprovalHandler as ApprovalHandler,
    )
    from .engine import (
        ApprovalRecord as ApprovalRecord,
    )
    from .engine import (
        ApprovalRequest as ApprovalRequest,
    )
    from .engine import (
        Artifact as Artifact,
    )
    from .engine import (
        BrokenAgent as BrokenAgent,
    )
    from .engine import (
        Decision as Decision,
    )
    from .engine import (
        Master as Master,
    )
    from .engine import (
        StepAssignment as StepAssignment,
    )
    from .engine import (
        StepFailure as StepFailure,
    )
    from .engine import (
        StepInput as StepInput,
    )
    from .engine import (
        StepOutcome as StepOutcome,
    )
    from .engine import (
        StepOutput as StepOutput,
    )
    from .engine import (
        StepResult as StepResult,
    )
    from .engine import (
        StepStatus as StepStatus,
    )
    from .engine import (
        TaskCheckpoint as TaskCheckpoint,
    )
    from .engine import (
        TaskResult as TaskResult,
    )
    from .engine import (
        TaskStatus as TaskStatus,
    )
    from .engine import (
        ToolApproval as ToolApproval,
    )
    from .engine import (
        ToolApprovalPolicy as ToolApprovalPolicy,
    )
    from .engine import (
        ToolRule as ToolRule,
    )
    from .engine import (
        discover_agents as discover_agents,
    )
    from .engine import (
        find_agents as find_agents,
    )
    from .models import (
        ChatDelta as ChatDelta,
    )
    from .models import (
        ChatMessage as ChatMessage,
    )
    from .models import (
        ChatModel as ChatModel,
    )
    from .models import (
        ChatResponse as ChatResponse,
    )
    from .models import (
        ChatToolCall as ChatToolCall,
    )
    from .models import (
        ModelCallProgress as ModelCallProgress,
    )
    from .models import (
        ModelCallWatcher as ModelCallWatcher,
    )
    from .models import (
        ModelSettings as ModelSettings,
    )
    from .models import (
        ModelSpec as ModelSpec,
    )
    from .models import (
        OpenAIChatModel as OpenAIChatModel,
    )
    from .models import (
        ProviderFactory as ProviderFactory,
    )
    from .models import (
        ResponseFormat as ResponseFormat,
    )
    from .models import (
        StreamAccumulator as StreamAccumulator,
    )
    from .models import (
        ToolCallDelta as ToolCallDelta,
    )
    from .models import (
        ToolDefinition as ToolDefinition,
    )
    from .models import (
        Usage as Usage,
    )
    from .models import (
        model_from_string as model_from_string,
    )
    from .models import (
        parse_model_string as parse_model_string,
    )
    from .models import (
        register_provider as register_provider,
    )
    from .models import (
        watch_model_calls as watch_model_calls,
    )
    from .outbound import (
        AllowList as AllowList,
    )
    from .outbound import (
        OutboundRefused as OutboundRefused,
    )
    from .outbound import (
        failure_reason as failure_reason,
    )
    from .outbound import (
        guarded_session as guarded_session,
    )
    from .outbound import (
        show_url as show_url,
    )
    from .outbound import (
        vet_url as vet_url,
    )
    from .plans import (
        Plan as Plan,
    )
    from .plans import (
        PlanError as PlanError,
    )
    from .plans import (
        PlanLimits as PlanLimits,
    )
    from .plans import (
        PlanStreamParser as PlanStreamParser,
    )
    from .plans import (
        RejectedStep as RejectedStep,
    )
    from .plans import (
        Step as Step,
    )
    from .plans import (
        parse_plan as parse_plan,
    )
    from .plans import (
        plan_json_schema as plan_json_schema,
    )
    from .plans import (
        plan_response_format as plan_response_format,
    )
    from .plans import (
        planning_messages as planning_messages,
    )
    from .plans import (
        remainder_messages as remainder_messages,
    )
    from .plans import (
        repair_messages as repair_messages,
    )
    from .plans import (
        replan_messages as replan_messages,
    )

# The public names, by the module (relative to this package) that defines each; each is
# imported on first use (lazy_loader, SPEC 1).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_errors": [
            "ModelAuthenticationError",
            "ModelBadRequestError",
            "ModelConfigError",
            "ModelConnectionError",
            "ModelError",
            "ModelNotFoundError",
            "ModelQuotaError",
            "ModelRateLimitError",
            "ModelServerError",
            "ModelTimeoutError",
            "RelayError",
        ],
        "_handle": ["TaskHandle"],
        "_inputs": ["InputError", "InputFile"],
        "_runtime": ["Runtime", "RuntimeUsageError", "new_task_id"],
        "_settings": ["RuntimeSettings"],
        "_tracing": ["configure_tracing"],
        "engine": [
            "Agent",
            "AgentActor",
            "AgentCatalog",
            "AgentContext",
            "AgentInfo",
            "AgentRegistryError",
            "Artifact",
            "ApprovalDecision",
            "ApprovalError",
            "ApprovalHandler",
            "ApprovalRecord",
            "ApprovalRequest",
            "Decision",
            "ToolApproval",
            "ToolApprovalPolicy",
            "ToolRule",
            "BrokenAgent",
            "ENTRY_POINT_GROUP",
            "Master",
            "StepAssignment",
            "StepFailure",
            "StepInput",
            "StepOutcome",
            "StepOutput",
            "StepResult",
            "StepStatus",
            "TaskCheckpoint",
            "TaskResult",
            "TaskStatus",
            "discover_agents",
            "find_agents",
        ],
        "models": [
            "ChatDelta",
            "ChatMessage",
            "ChatModel",
            "ChatResponse",
            "ChatToolCall",
            "ModelCallProgress",
            "ModelCallWatcher",
            "ModelSettings",
            "ModelSpec",
            "OpenAIChatModel",
            "ProviderFactory",
            "ResponseFormat",
            "StreamAccumulator",
            "ToolCallDelta",
            "ToolDefinition",
            "Usage",
            "model_from_string",
            "parse_model_string",
            "register_provider",
            "watch_model_calls",
        ],
        "outbound": [
            "AllowList",
            "OutboundRefused",
            "failure_reason",
            "guarded_session",
            "show_url",
            "vet_url",
        ],
        "plans": [
            "Plan",
            "PlanError",
            "PlanLimits",
            "PlanStreamParser",
            "RejectedStep",
            "Step",
            "parse_plan",
            "plan_json_schema",
            "plan_response_format",
            "planning_messages",
            "remainder_messages",
            "repair_messages",
            "replan_messages",
        ],
    },
)


# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("agent_relay.runtime")``. The ``relay`` command line enables them.
_logger.disable("agent_relay.runtime")

if __name__ != "agent_relay.runtime":
    # The repository's folder imported under its own name (say, ``import runtime`` from the
    # project's root) would be a second copy of relay whose classes are not relay's own.
    raise ImportError(
        f"relay installs this as agent_relay.runtime; it is not importable as {__name__!r}"
    )
