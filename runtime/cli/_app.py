"""The ``relay`` command: arguments, settings, logging, dispatch, and the one rule for errors:
a person sees one line (``relay: error: ...``) and an exit code, the detail goes to the log.

Exit codes: 0 completed, 1 task failed or partly failed, 2 usage or configuration error,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import anyio
from loguru import logger
from rich.console import Console

from .._errors import RelayError
from ..models._chat_model import ChatModel
from ._agents import agents_command
from ._batch import batch_command
from ._batch_output import default_output_path
from ._config import ConfigError, RelaySettings, load_settings
from ._demo import QUICK, demo_model
from ._logging import configure_logging, redact
from ._model import build_model
from ._run import demo_command, run_command

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_EPILOG = """\
examples:
  relay demo                                    the classic example, offline, no key
  relay run "Summarise README.md into notes.md" with OPENAI_API_KEY set
  relay run --model ollama:llama3.1 "..."       a local OpenAI-compatible server
  relay batch tasks.jsonl --concurrency 8       many tasks; rerun to resume
  relay agents                                  the agents relay can plan with

exit codes: 0 completed, 1 task failed, 2 usage or configuration error, 130 interrupted
"""


class UsageError(Exception):
    """Bad command-line arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block; --help has the rest.
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration and logging")
    group.add_argument("--config", type=Path, metavar="PATH", help="settings file (relay.toml)")
    group.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING (default)...")
    group.add_argument("--log-json", action="store_true", default=None, help="log JSON lines")


def _engine(parser: argparse.ArgumentParser, *, image_backend: bool = True) -> None:
    group = parser.add_argument_group("workspace and limits")
    group.add_argument("--workspace", type=Path, metavar="DIR", help="default ./relay-workspace")
    group.add_argument("--step-timeout", type=float, metavar="S", help="seconds per step")
    group.add_argument("--task-timeout", type=float, metavar="S", help="seconds per task")
    group.add_argument("--max-steps", type=int, metavar="N", help="steps in one plan")
    group.add_argument("--max-parallel-steps", type=int, metavar="N", help="steps at once")
    group.add_argument(
        "--replan", action="store_true", default=None, help="revise the plan once on failure"
    )
    group.add_argument(
        "--no-code-execution",
        dest="code_execution",
        action="store_false",
        default=None,
        help="the code agent writes code but never runs it",
    )
    if image_backend:
        group.add_argument(
            "--image-backend",
            metavar="NAME",
            help="offline, openai or replicate (default: chosen from the keys present)",
        )


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="PROVIDER:MODEL", help="e.g. openai:gpt-4.1-mini")
    group.add_argument("--base-url", metavar="URL", help="an OpenAI-compatible endpoint")
    group.add_argument(
        "--api-key", metavar="KEY", help="prefer OPENAI_API_KEY: flags show up in process lists"
    )
    group.add_argument("--request-timeout", type=float, metavar="S", help="seconds per model call")
    group.add_argument("--max-retries", type=int, metavar="N", help="retries per model call")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relay",
        description="relay plans a task into steps for its agents (image, code, file...) and "
        "runs them, in parallel where it can.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="run one task and watch it", description="Run a task.")
    run.add_argument("task", help="what to do, in plain language")
    run.add_argument("--json", action="store_true", help="print the result as JSON, nothing else")
    _model_options(run)
    _engine(run)
    _common(run)

    demo = commands.add_parser(
        "demo",
        help="the classic example, offline: a picture and the web page that shows it",
        description="Run the classic example on a scripted model: no key, no network.",
    )
    demo.add_argument("--json", action="store_true", help="print the result as JSON, nothing else")
    _engine(demo, image_backend=False)
    _common(demo)

    batch = commands.add_parser(
        "batch",
        help="run many tasks from a JSON-lines file",
        description='Run the tasks of a file, one per line: {"task": "...", "id": "..."} or '
        "plain text. Results are appended to the output as they finish; rerunning skips the "
        "ids already there.",
    )
    batch.add_argument("input", type=Path, help="the tasks, one per line")
    batch.add_argument("--out", type=Path, metavar="PATH", help="default <input>.results.jsonl")
    batch.add_argument("--concurrency", type=int, metavar="N", help="tasks at once (default 4)")
    batch.add_argument(
        "--demo", action="store_true", help="run every task on the demo's scripted model"
    )
    _model_options(batch)
    _engine(batch)
    _common(batch)

    agents = commands.add_parser("agents", help="list the agents relay can plan with")
    _common(agents)
    return parser


# Argument names that are not settings.
_NOT_SETTINGS = frozenset({"command", "task", "json", "input", "out", "demo", "config"})


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS}


def _error(message: str) -> None:
    sys.stderr.write(f"relay: error: {redact(' '.join(message.split()))}\n")
    sys.stderr.flush()


def _command(
    args: argparse.Namespace, settings: RelaySettings, console: Console
) -> Callable[[], Awaitable[int]]:
    if settings.image_backend is not None:
        # The image agent reads its backend from here (this is also RELAY_IMAGE_BACKEND).
        os.environ["RELAY_IMAGE_BACKEND"] = settings.image_backend
    if args.command == "demo":
        return lambda: demo_command(settings, console, json_output=args.json)
    if args.command == "run":
        model = build_model(settings)
        return lambda: run_command(args.task, model, settings, console, json_output=args.json)
    # batch
    batch_model: ChatModel
    if args.demo:
        os.environ["RELAY_IMAGE_BACKEND"] = "offline"
        batch_model = demo_model(QUICK)
    else:
        batch_model = build_model(settings)
    out = args.out or default_output_path(args.input)
    return lambda: batch_command(args.input, out, batch_model, settings, console)


def _dispatch(args: argparse.Namespace) -> int:
    settings = load_settings(_flags(args), config_file=args.config)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    secrets = [
        s.get_secret_value() for s in (settings.api_key, settings.openai_api_key) if s is not None
    ]
    redact.refresh(secrets)
    logger.debug("relay {} in {}", args.command, Path.cwd())
    console = Console(highlight=False)
    if args.command == "agents":
        return agents_command(console)
    return anyio.run(_command(args, settings, console))


def _leaf(exc: BaseException) -> BaseException:
    """The error inside task-group wrappers, when there is just one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``relay`` with ``argv`` (default: the process's arguments); returns the exit code."""
    parser = build_parser()
    configure_logging("WARNING")
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return _dispatch(args)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\nrelay: interrupted\n")
        return EXIT_INTERRUPTED
    except BaseException as exc:
        return _handle(_leaf(exc))


def _handle(exc: BaseException) -> int:
    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("\nrelay: interrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, ConfigError | RelayError):
        logger.opt(exception=exc).debug("relay stopped: {}", exc)
        _error(str(exc))
        return EXIT_USAGE
    logger.opt(exception=exc).debug("relay failed unexpectedly")
    _error(
        f"unexpected {type(exc).__name__}: {exc} "
        "(a bug in relay; the log has the details, rerun with --log-level DEBUG)"
    )
    return EXIT_FAILED
