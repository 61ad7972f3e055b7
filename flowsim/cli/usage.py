"""Option mistakes (a missing file, a bad number, an unknown option) in the style of every other mistake.

Click and Typer print such errors as a box with the usage above it and exit 2;
flowsim prints every other mistake as one `error:` line. This group runs the
command line in Click's non-standalone mode and prints its usage errors as one
`error:` line (exit 2) too, naming the command and pointing at its --help.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup

try:  # Typer 0.2x ships its own copy of Click; its exceptions are those raised here
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - an older Typer on Click
    from click import exceptions as click_errors  # type: ignore[no-redef]

from flowsim.cli.signals import INTERRUPTED


class OneLineErrors(TyperGroup):
    """The flowsim command group: Typer's, with one-line usage errors and plain `FILE...` in usage and help."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click_errors.NoArgsIsHelpError as exc:  # `flowsim` or `flowsim run` alone: the help
            sys.stderr.write((exc.ctx.get_help() if exc.ctx else exc.format_message()) + "\n")
            sys.exit(exc.exit_code)
        except click_errors.ClickException as exc:
            sys.stderr.write(one_line(exc, list(sys.argv[1:] if args is None else args)) + "\n")
            sys.exit(2)
        except typer.Abort:
            sys.stderr.write(INTERRUPTED + "\n")
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for param in command.params if command is not None else []:
            if isinstance(param, TyperArgument):
                param._usage_display_name = _plain_name(param)  # type: ignore[method-assign]
                param.display_type_rich = _no_type  # type: ignore[method-assign]  # help: `FILE`, not `FILE <list[Path]>`
        return command


def _plain_name(param: TyperArgument) -> Any:
    """Click's own usage style: `FILE...` when required, `[FILE]...` when not (Typer writes `{FILE}...`)."""

    def name() -> str:
        text = param.display_name_raw if param.required else f"[{param.display_name_raw}]"
        return text + ("..." if param.nargs != 1 else "")

    return name


def _no_type(ctx: Any) -> None:
    return None


def one_line(exc: Any, args: Sequence[str] = ()) -> str:
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
    param = getattr(exc, "param", None)
    if isinstance(exc, click_errors.BadParameter) and param is not None and getattr(param, "opts", None):
        # `--replicates: value '0': must be >= 1`, as flowsim words every other bad value
        value = _given(param.opts, args)
        shown = f"value {value!r}: " if value is not None else ""
        message = f"{param.opts[0]}: {shown}{_rule(exc.message)}"
    else:
        message = " ".join(exc.format_message().split()).rstrip(".")
        message = message[:1].lower() + message[1:]
    if message.endswith("?") and ctx is not None:  # "Did you mean 'run'?"
        hint = f" See {ctx.command_path} --help"
    return f"error: {where}{message}{hint}"


def _given(opts: Sequence[str], args: Sequence[str]) -> str | None:
    """The value given to an option on the command line (the last one, as Click keeps), if found."""
    found = None
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                found = args[i + 1]
            elif opt.startswith("--") and arg.startswith(opt + "="):
                found = arg[len(opt) + 1:]
            elif not opt.startswith("--") and arg.startswith(opt) and len(arg) > len(opt):
                found = arg[len(opt):]
    return found


RULES = [
    (r"Input should be greater than or equal to (\S+)", r"must be >= \1"),
    (r"Input should be less than or equal to (\S+)", r"must be <= \1"),
    (r"Input should be greater than (\S+)", r"must be > \1"),
    (r"Input should be less than (\S+)", r"must be < \1"),
    (r"Input should be a valid integer.*", "must be a whole number"),
    (r"Input should be a valid number.*", "must be a number"),
    (r"Input should be (.*)", r"must be \1"),
]
"""Typer words option errors as pydantic does; flowsim says `must be ...` everywhere."""


def _rule(message: str) -> str:
    text = " ".join(str(message).split()).rstrip(".")
    for pattern, rule in RULES:
        if re.fullmatch(pattern, text):
            return re.sub(pattern, rule, text)
    return text[:1].lower() + text[1:]
