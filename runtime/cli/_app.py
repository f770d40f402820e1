"""The ``relay`` command: arguments, settings, logging, dispatch, and the one rule for errors:
a person sees one line (``relay: error: ...``) and an exit code, the detail goes to the log.

Exit codes: 0 completed, 1 task failed or partly failed, 2 what only the user's setup can fix
(usage, configuration, the workspace, a refused key, no credit, an unknown model), 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from loguru import logger

from agent_relay.bus import printable

from .._errors import RelayError
from .._gc_tuning import tune_gc_for_owned_process
from .._setting import CLIENT_COMMANDS
from ._config import ConfigError, RelaySettings, load_settings, user_settings
from ._logging import configure_logging, redact
from ._settings_views import add_setting_flags
from ._stdout import ReaderMayLeave

if TYPE_CHECKING:
    from rich.console import Console

    from ..models._chat_model import ChatModel

# The commands' own modules (and through them the openai SDK, aiohttp, rich's live view) are
# imported in _command, once a command is chosen: `relay --help` and `relay --version` never
# pay for them. tests/cli/test_startup.py checks it.

DISTRIBUTION = "agent-relay"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The commands that decide their tasks' approvals themselves, and so take --yes.
_APPROVING = frozenset({"run", "demo", "batch"})

_EPILOG = """\
examples:
  relay demo                               the classic example, offline, no key
  relay run --input notes.md "Summarise notes.md into summary.md"
                                           with OPENAI_API_KEY set; notes.md is
                                           copied into the task's directory
  relay run --model ollama:llama3.1 "..."  a local OpenAI-compatible server
  relay batch tasks.jsonl --concurrency 8  many tasks; rerun to resume
  relay agents                             the agents relay can plan with
  relay run --help                         every setting of a run, with defaults

exit codes: 0 completed, 1 task failed, 2 usage or setup error (flags, settings, workspace, \
a refused key, no credit, an unknown model), 130 interrupted.
"""


_RUN_EPILOG = """\
examples:
  relay run "Draw a lighthouse at dawn and make a web page that shows it"
  relay run --input notes.md "Summarise notes.md into summary.md"
  relay run --input data/ --input brief.md "Chart data/sales.csv as the brief asks"
  relay run --json --input notes.md "Summarise notes.md into summary.md" | jq .status
  relay run --model ollama:llama3.1 --base-url http://localhost:11434/v1 \\
            --request-timeout 300 --max-retries 1 "..."   a slow local server
  relay run --max-parallel-steps 2 --step-timeout 600 --task-timeout 1800 "..."
"""


class UsageError(Exception):
    """Bad command-line arguments."""


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions and help at the terminal's width (argparse reads ``COLUMNS``) but
    keeps indented lines (the examples) and the lines of a heading's block as written; never
    breaks a word at its hyphen (a path, a flag, ``relay-workspace``)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.strip("\n").split("\n\n")
        filled = [
            p
            if "\n" in p or p.startswith(" ")
            else textwrap.fill(
                " ".join(p.split()),
                width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_on_hyphens=False,
            )
            for p in paragraphs
        ]
        return "\n\n".join(filled) + "\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block; --help has the rest.
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _version() -> str:
    try:
        return f"relay {version(DISTRIBUTION)}"
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "relay (version unknown: the agent-relay distribution is not installed)"


def _demo_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--demo", action="store_true", help=f"run every {what} on the demo's scripted model"
    )


def _settings_flags(parser: argparse.ArgumentParser, command: str) -> None:
    groups = add_setting_flags(parser, command)
    # --config names where settings come from; it is not a setting itself.
    groups["configuration and logging"].add_argument(
        "--config", type=Path, metavar="PATH", help="settings file (relay.toml)"
    )
    if command in _APPROVING:
        # Per run, not a setting: a yes in relay.toml or the environment would approve,
        # unseen, whatever any later run asks.
        groups["approvals"].add_argument(
            "--yes",
            action="store_true",
            help="approve every request without asking, one line each, recorded as by --yes "
            "(needed where there is no terminal to ask at, and always for relay batch)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relay",
        description="relay plans a task into steps for its agents (image, code, file...) and "
        "runs them, in parallel where it can.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run one task and watch it",
        description="Run a task. It works in its own directory, <workspace>/<task id>/, which "
        "holds nothing but the files given with --input.",
        epilog=_RUN_EPILOG,
        formatter_class=_Formatter,
    )
    run.add_argument("task", help="what to do, in plain language")
    # Per run, not a setting: inputs named in relay.toml or the environment would be handed,
    # unseen, to every task.
    run.add_argument(
        "--input",
        action="append",
        type=Path,
        default=[],
        dest="inputs",
        metavar="PATH",
        help="a file or folder the task is given, copied read-only into its directory "
        "(repeat for more)",
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON, nothing else")
    _settings_flags(run, "run")

    demo = commands.add_parser(
        "demo",
        help="the classic example, offline: a picture and the web page that shows it",
        description="Run the classic example on a scripted model: no key, no network.",
        formatter_class=_Formatter,
    )
    demo.add_argument("--json", action="store_true", help="print the result as JSON, nothing else")
    _settings_flags(demo, "demo")

    batch = commands.add_parser(
        "batch",
        help="run many tasks from a JSON-lines file",
        description='Run the tasks of a file, one per line: {"task": "...", "id": "...", '
        '"inputs": ["notes.md"]} (inputs relative to the file\'s folder) or plain text. '
        "Results are appended to the output as they finish; rerunning skips the "
        "ids already done there and runs again the failed and cancelled ones.",
        formatter_class=_Formatter,
    )
    batch.add_argument("input", type=Path, help="the tasks, one per line")
    batch.add_argument("--out", type=Path, metavar="PATH", help="default <input>.results.jsonl")
    _demo_flag(batch, "task")
    _settings_flags(batch, "batch")

    serve = commands.add_parser(
        "serve",
        help="run the daemon: tasks over HTTP, stored so that they survive restarts",
        description='Accept tasks over HTTP (see the README\'s "Running the daemon"). Runs are '
        "stored in a SQLite file; runs left unfinished by a stop or a crash resume at the next "
        "start, their completed steps kept.",
        formatter_class=_Formatter,
    )
    _demo_flag(serve, "task")
    _settings_flags(serve, "serve")

    worker = commands.add_parser(
        "worker",
        help="run agents only, taking steps from a NATS work queue",
        description="Run agent actors that take steps from the JetStream work queue of a"
        " NATS bus (--bus nats://host:port), for a master (relay serve or relay run) on the"
        " same bus. SIGTERM stops it cleanly: steps in flight finish within --grace seconds or"
        " are handed back.",
        formatter_class=_Formatter,
    )
    # Not the batch's --concurrency setting: steps per agent in this worker.
    worker.add_argument(
        "--concurrency",
        type=_positive,
        dest="worker_concurrency",
        metavar="N",
        help="steps each agent takes at once (default: the agent's own)",
    )
    worker.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a stopping worker lets its steps finish before handing them back "
        "(default 30)",
    )
    _demo_flag(worker, "step")
    _settings_flags(worker, "worker")

    _client_parsers(commands)

    agents = commands.add_parser(
        "agents", help="list the agents relay can plan with", formatter_class=_Formatter
    )
    _settings_flags(agents, "agents")
    return parser


_CLIENT_EPILOG = """\
The daemon is RELAY_SERVER (default http://127.0.0.1:8080), its token RELAY_TOKEN.

examples:
  relay submit --input notes.md "Summarise notes.md into summary.md"   prints the run's id
  relay submit --watch "Draw a lighthouse"      the live view, then the report
  relay watch RUN_ID                            the same view of a run already submitted
  relay status RUN_ID --json | jq .status
  relay runs --status running
  relay cancel RUN_ID
  relay approve RUN_ID APPROVAL_ID              the ids `relay status RUN_ID` shows
  relay reject RUN_ID APPROVAL_ID --reason "not that file"
"""

_RUN_STATUSES = ("queued", "planning", "running", "completed", "partial", "failed", "cancelled")


def _client_parsers(commands: Any) -> None:
    """The commands that talk to a daemon (``relay serve``)."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=_CLIENT_EPILOG,
            formatter_class=_Formatter,
        )
        return parser

    def json_flag(parser: argparse.ArgumentParser, what: str) -> None:
        parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")

    submit = command("submit", "send a task to the daemon (relay serve)")
    submit.add_argument("task", help="what to do, in plain language")
    submit.add_argument(
        "--input",
        action="append",
        type=Path,
        default=[],
        dest="inputs",
        metavar="PATH",
        help="a file the run is given, uploaded under its name (repeat for more)",
    )
    follow = submit.add_mutually_exclusive_group()
    follow.add_argument(
        "--wait", action="store_true", help="wait for the run's end, then print its report"
    )
    follow.add_argument(
        "--watch", action="store_true", help="show the run live, then print its report"
    )
    json_flag(submit, "the accepted run (with --wait or --watch: the result)")
    _settings_flags(submit, "submit")

    watch = command("watch", "show a daemon's run live until it ends, then its report")
    watch.add_argument("id", help="the run's id")
    json_flag(watch, "only the result")
    _settings_flags(watch, "watch")

    status = command("status", "show a daemon's run as it stands")
    status.add_argument("id", help="the run's id")
    json_flag(status, "the run")
    _settings_flags(status, "status")

    cancel = command("cancel", "cancel a daemon's run")
    cancel.add_argument("id", help="the run's id")
    _settings_flags(cancel, "cancel")

    runs = command("runs", "list a daemon's runs, newest first")
    runs.add_argument("--status", choices=_RUN_STATUSES, help="only runs with this status")
    runs.add_argument(
        "--limit", type=_positive, default=20, metavar="N", help="at most N runs (default: 20)"
    )
    json_flag(runs, "the runs (a list)")
    _settings_flags(runs, "runs")

    approve = command("approve", "approve what a daemon's run waits for (a tool call, a plan)")
    approve.add_argument("id", help="the run's id")
    approve.add_argument("approval_id", help="the approval's id (relay status shows it)")
    edits = approve.add_mutually_exclusive_group()
    edits.add_argument(
        "--arguments",
        metavar="JSON",
        help="run the tool call with these arguments instead (a JSON object)",
    )
    edits.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="run this plan instead: a JSON file of steps {id, agent, prompt, depends_on}",
    )
    json_flag(approve, "the decision")
    _settings_flags(approve, "approve")

    reject = command("reject", "reject what a daemon's run waits for (a tool call, a plan)")
    reject.add_argument("id", help="the run's id")
    reject.add_argument("approval_id", help="the approval's id (relay status shows it)")
    reject.add_argument(
        "--reason",
        metavar="TEXT",
        help="why: the model reads it (a tool call); a rejected plan's run ends with it",
    )
    json_flag(reject, "the decision")
    _settings_flags(reject, "reject")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _client_command(
    args: argparse.Namespace, settings: RelaySettings, console: Console
) -> Callable[[], Awaitable[int]]:
    from ._client_commands import (
        Follow,
        approve_command,
        cancel_command,
        reject_command,
        runs_command,
        status_command,
        submit_command,
        watch_command,
    )

    if args.command == "submit":
        follow: Follow = "wait" if args.wait else "watch" if args.watch else "none"
        return lambda: submit_command(
            args.task, args.inputs, settings, console, follow=follow, json_output=args.json
        )
    if args.command == "watch":
        return lambda: watch_command(args.id, settings, console, json_output=args.json)
    if args.command == "status":
        return lambda: status_command(args.id, settings, console, json_output=args.json)
    if args.command == "cancel":
        return lambda: cancel_command(args.id, settings, console)
    if args.command == "approve":
        return lambda: approve_command(
            args.id,
            args.approval_id,
            settings,
            console,
            arguments=args.arguments,
            plan=args.plan,
            json_output=args.json,
        )
    if args.command == "reject":
        return lambda: reject_command(
            args.id, args.approval_id, settings, console, reason=args.reason, json_output=args.json
        )
    return lambda: runs_command(
        settings, console, status=args.status, limit=args.limit, json_output=args.json
    )


def _model_for(
    args: argparse.Namespace, settings: RelaySettings
) -> tuple[ChatModel, RelaySettings]:
    """The model a command that takes ``--demo`` runs its tasks on, and its settings."""
    from ._model import build_model

    if args.demo:
        from ._demo import QUICK, demo_model

        # Every task on the scripted model, its pictures drawn locally whatever keys are set.
        return demo_model(QUICK), settings.model_copy(update={"image_backend": "offline"})
    return build_model(settings), settings


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, by key (argparse stores each under its key)."""
    return {k: v for k, v in vars(args).items() if k in user_settings()}


def _error(message: str) -> None:
    # Printable: an error can quote a model's text (see _console).
    sys.stderr.write(f"relay: error: {printable(redact(' '.join(message.split())))}\n")
    sys.stderr.flush()


def _command(
    args: argparse.Namespace, settings: RelaySettings, console: Console
) -> Callable[[], Awaitable[int]]:
    if args.command in CLIENT_COMMANDS:
        return _client_command(args, settings, console)
    if args.command in _APPROVING and not args.yes:
        _check_someone_decides(args.command, settings)
    from ._run import demo_command, run_command

    if args.command == "demo":
        return lambda: demo_command(settings, console, json_output=args.json, yes=args.yes)
    from ._model import build_model

    if args.command == "run":
        model = build_model(settings)
        return lambda: run_command(
            args.task,
            model,
            settings,
            console,
            json_output=args.json,
            inputs=args.inputs,
            yes=args.yes,
        )
    if args.command == "serve":
        from ._serve import serve_command

        serve_model, settings = _model_for(args, settings)
        return lambda: serve_command(serve_model, settings)
    if args.command == "worker":
        from ._worker import worker_command

        worker_model, settings = _model_for(args, settings)
        return lambda: worker_command(
            worker_model, settings, concurrency=args.worker_concurrency, grace_s=args.grace
        )
    # batch
    from ._batch import batch_command
    from ._batch_output import default_output_path

    batch_model, settings = _model_for(args, settings)
    out = args.out or default_output_path(args.input)
    return lambda: batch_command(args.input, out, batch_model, settings, console, yes=args.yes)


def _check_someone_decides(command: str, settings: RelaySettings) -> None:
    """Refuse, before anything runs, a command whose approvals nobody could decide."""
    from ._approval_prompt import nobody_to_ask
    from ._terminal_input import stdin_is_terminal

    problem = nobody_to_ask(command, settings, at_terminal=stdin_is_terminal())
    if problem is not None:
        raise UsageError(problem)


def _dispatch(args: argparse.Namespace) -> int:
    settings = load_settings(_flags(args), config_file=args.config)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    secrets = [
        s.get_secret_value()
        for s in (
            settings.api_key,
            settings.openai_api_key,
            settings.replicate_api_token,
            settings.token,
        )
        if s is not None
    ]
    redact.refresh(secrets)
    logger.debug("relay {} in {}", args.command, Path.cwd())
    from ._console import SafeConsole

    console = SafeConsole(highlight=False)
    if args.command == "agents":
        from ._agents import agents_command

        return agents_command(console)
    import anyio

    return anyio.run(_command(args, settings, console))


def _leaf(exc: BaseException) -> BaseException:
    """The error inside task-group wrappers, when there is just one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def console_main() -> int:
    """The ``relay`` command: ``main`` in a process relay owns, with the garbage collector
    tuned for it (see ``tune_gc_for_owned_process``)."""
    tune_gc_for_owned_process()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``relay`` with ``argv`` (default: the process's arguments); returns the exit code."""
    parser = build_parser()
    configure_logging("WARNING")
    stdout = sys.stdout
    sys.stdout = ReaderMayLeave(stdout)
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
    finally:
        sys.stdout = stdout


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
