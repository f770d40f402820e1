"""A weather assistant with one tool, driven call by call through relay's assistant layer.

    python examples/weather.py --offline                     # scripted model, no key needed
    python examples/weather.py --backend responses --offline # a fake Responses API, in process
    python examples/weather.py --backend bedrock --offline   # a fake Bedrock Agents runtime
    python examples/weather.py                           # OPENAI_API_KEY / OPENAI_BASE_URL
    python examples/weather.py --model llama3.1 --base-url http://localhost:11434/v1
    python examples/weather.py --backend responses       # OpenAI Responses, background mode
    python examples/weather.py --backend bedrock --region us-east-1 --agent-alias AGENT/ALIAS

It creates an agent with a ``get_temperature`` tool, then asks two questions on one thread:
``run_agent`` starts a run, ``retrieve_result`` waits for it, and while the run requires
action the example calls the tool and answers with ``submit_tool_outputs``. That code is the
same on every backend; only the manager's ``backend`` argument differs (``open_manager``). On
Bedrock, the agent is one created in AWS whose ``RETURN_CONTROL`` action group has a
``get_temperature`` function (``pip install 'agent-relay[bedrock]'``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
from loguru import logger
from rich.console import Console
from rich.markup import escape
from weather_offline import OFFLINE_AGENT_ALIAS, bedrock_turn, responses_reply, scripted_model

from agent_relay.runtime import ChatModel, RelayError
from agent_relay.runtime.assistants import (
    AgentBase,
    AgentManager,
    Backend,
    CreateAgentRequest,
    RunAgentRequest,
    RunStatus,
    execute_tool_calls,
    tool,
)
from agent_relay.runtime.testing import FakeBedrockAgentsServer, FakeOpenAIServer

QUESTIONS = ("What's the temperature in Paris right now?", "And in Oslo?")
KNOWN = {"paris": 15, "oslo": 4, "lisbon": 21, "tokyo": 18, "nairobi": 24}


@tool
def get_temperature(location: str) -> dict[str, object]:
    """Get the current temperature in a city, in degrees Celsius.

    Args:
        location: The city, e.g. "Paris".
    """
    # Fake, deterministic data: known cities have fixed readings, others one derived from
    # the name, so every run of the example prints the same thing.
    key = location.strip().lower()
    celsius = KNOWN.get(key, sum(map(ord, key)) % 35 - 5)
    return {"location": location.strip(), "celsius": celsius}


async def ask(
    manager: AgentManager, agent: AgentBase, question: str, thread_id: str | None, out: Console
) -> str:
    """One user turn: start a run, answer its tool calls, print the reply; returns the
    thread's id so the next turn continues the conversation."""
    out.print(f"[bold cyan]you[/]       {escape(question)}")
    run = await manager.run_agent(
        RunAgentRequest.from_agent(agent, messages=[question], thread_id=thread_id)
    )
    result = await manager.retrieve_result(run, timeout=120)
    while result.run_status is RunStatus.requires_action and result.required_action:
        calls = result.required_action.tool_calls
        outputs = await execute_tool_calls([get_temperature], calls)
        for call, output in zip(calls, outputs, strict=True):
            shown = f"{call.function.name}({call.function.arguments}) -> {output.output}"
            out.print(f"[dim]  tool    {escape(shown)}[/]")
        await manager.submit_tool_outputs(
            RunAgentRequest.from_agent(
                agent, run_id=run.run_id, thread_id=run.thread_id, tool_outputs=outputs
            )
        )
        result = await manager.retrieve_result(run, timeout=120)
    if result.run_status is not RunStatus.completed:
        raise RelayError(f"the run ended {result.run_status}: {result.last_error}")
    answer = result.refusal or result.text
    out.print(f"[bold green]assistant[/] {escape(answer)}")
    return run.thread_id


@asynccontextmanager
async def open_manager(args: argparse.Namespace) -> AsyncIterator[AgentManager]:
    """An open manager over the backend ``args`` names; its ``backend`` argument is all that
    differs between backends. Offline, each backend talks to its own fake, in this process."""
    async with AsyncExitStack() as stack:
        model: ChatModel | None = None
        backend: str | Backend = args.backend
        if args.backend == "bedrock":
            # Imported here: botocore (the bedrock extra) is needed for this backend only.
            from agent_relay.runtime.assistants import BedrockAgentsBackend

            if args.offline:
                fake = FakeBedrockAgentsServer(responder=bedrock_turn)
                client = (await stack.enter_async_context(fake)).create_client()
                stack.callback(client.close)
                backend = BedrockAgentsBackend(client)
            else:  # the agent lives in AWS; credentials as the AWS configuration has them
                backend = BedrockAgentsBackend(region_name=args.region)
        elif args.backend == "local" and args.offline:
            model = scripted_model()
        else:
            from agent_relay.runtime import OpenAIChatModel  # only needed, and set up, here

            base_url, api_key = args.base_url, None
            if args.offline:  # a fake Responses API stands in for the endpoint
                fake_openai = FakeOpenAIServer(responder=responses_reply)
                base_url = (await stack.enter_async_context(fake_openai)).base_url
                api_key = "offline-no-key"
            model = OpenAIChatModel(args.model, base_url=base_url, api_key=api_key)
        if model is not None:
            await stack.enter_async_context(model)
        yield await stack.enter_async_context(AgentManager(model, backend=backend))


async def main(args: argparse.Namespace, out: Console) -> None:
    async with open_manager(args) as manager:
        agent = await manager.create_agent(
            CreateAgentRequest(
                name="weather",
                model=None if args.offline else args.model,
                instructions=(
                    "You answer questions about the weather. Always call get_temperature for "
                    "a city before you say how warm it is. Answer in one short sentence."
                ),
                tools=[get_temperature],
                # Which agent in AWS answers, on the bedrock backend; the others record it.
                agent_alias=args.agent_alias or (OFFLINE_AGENT_ALIAS if args.offline else None),
            )
        )
        out.print(f"[dim]agent {agent.agent_id} on the {manager.backend.name} backend[/]")
        thread_id: str | None = None
        for question in args.questions or QUESTIONS:
            thread_id = await ask(manager, agent, question, thread_id, out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A weather assistant on relay.")
    parser.add_argument("questions", nargs="*", help="questions to ask, one turn each")
    parser.add_argument(
        "--backend",
        choices=("local", "responses", "bedrock"),
        default="local",
        help="where runs happen: this process over a chat model, OpenAI Responses in "
        "background mode, or Amazon Bedrock Agents",
    )
    parser.add_argument(
        "--offline", action="store_true", help="talk to the backend's fake, in process; no key"
    )
    parser.add_argument("--model", default="gpt-4.1-mini", help="model name at the endpoint")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: OpenAI)")
    parser.add_argument(
        "--agent-alias", help="bedrock: the agent's alias ARN, or AGENT_ID/ALIAS_ID"
    )
    parser.add_argument("--region", help="bedrock: the AWS region (default: AWS configuration)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logger.remove()  # keep the terminal for the conversation; problems still show below
    logger.add(sys.stderr, level="ERROR", format="{message}")
    console = Console(highlight=False, soft_wrap=True)
    try:
        anyio.run(main, parse_args(), console)
    except RelayError as error:
        console.print(f"[bold red]error[/]     {escape(str(error))}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
