"""A weather assistant with one tool, driven call by call through relay's assistant layer.

    python examples/weather.py --offline                 # scripted model, no key needed
    python examples/weather.py                           # OPENAI_API_KEY / OPENAI_BASE_URL
    python examples/weather.py --model llama3.1 --base-url http://localhost:11434/v1

It creates an agent with a ``get_temperature`` tool, then asks two questions on one thread:
``run_agent`` starts a run, ``retrieve_result`` waits for it, and while the run requires
action the example calls the tool and answers with ``submit_tool_outputs``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence

import anyio
from loguru import logger
from rich.console import Console
from rich.markup import escape

from agent_relay.runtime import ChatMessage, ChatModel, ChatToolCall, RelayError, ToolDefinition
from agent_relay.runtime.assistants import (
    AgentBase,
    AgentManager,
    CreateAgentRequest,
    RunAgentRequest,
    RunStatus,
    execute_tool_calls,
    tool,
)
from agent_relay.runtime.testing import ScriptedModel, tool_call

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


def offline_reply(
    messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
) -> str | ChatToolCall:
    """What the scripted model answers: ask the tool about the city in the question, then
    report the tool's reading, so the answer really comes from calling the tool."""
    last = messages[-1]
    if last.role == "tool":
        reading = json.loads(last.text)
        return f"It is {reading['celsius']} °C in {reading['location']} right now."
    found = re.search(r"\bin ([A-Z][\w-]*(?: [A-Z][\w-]*)*)", last.text)
    return tool_call("get_temperature", {"location": found.group(1) if found else "Paris"})


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


async def main(args: argparse.Namespace, out: Console) -> None:
    model: ChatModel
    if args.offline:
        model = ScriptedModel(offline_reply, name="scripted-weather")
    else:
        from agent_relay.runtime import OpenAIChatModel  # only needed, and configured, when online

        model = OpenAIChatModel(args.model, base_url=args.base_url)
    async with model, AgentManager(model, run_timeout=300) as manager:
        agent = await manager.create_agent(
            CreateAgentRequest(
                name="weather",
                model=None if args.offline else args.model,
                instructions=(
                    "You answer questions about the weather. Always call get_temperature for "
                    "a city before you say how warm it is. Answer in one short sentence."
                ),
                tools=[get_temperature],
            )
        )
        out.print(f"[dim]agent {agent.agent_id} on {escape(model.name)}[/]")
        thread_id: str | None = None
        for question in args.questions or QUESTIONS:
            thread_id = await ask(manager, agent, question, thread_id, out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A weather assistant on relay.")
    parser.add_argument("questions", nargs="*", help="questions to ask, one turn each")
    parser.add_argument("--offline", action="store_true", help="use a scripted model, no key")
    parser.add_argument("--model", default="gpt-4.1-mini", help="model name at the endpoint")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: OpenAI)")
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
