"""Option mistakes (a missing file, a bad number, an unknown option) in the style of every other mistake.

Click and Typer print such errors as a box with the usage above it and exit 2;
flowsim prints every other mistake as one `error:` line. This group runs the
command line in Click's non-standalone mode and prints its usage errors as one
`error:` line (exit 2) too, naming the command and pointing at its --help.
"""

from __future__ import annotations

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
            sys.stderr.write(one_line(exc) + "\n")
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


def one_line(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
    message = " ".join(exc.format_message().split()).rstrip(".")
    return f"error: {where}{message[:1].lower()}{message[1:]}{hint}"
