"""Shared CLI plumbing: stderr console, progress bars that stay quiet in pipes, error exits.

Exit status: 0 success; 1 the job ran but found no acceptable answer (``solve``); 2 unusable input
or invocation (one-line message on stderr, no traceback); 128 + N stopped by signal N at a safe point
(everything so far saved; ``--resume`` continues).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar

import typer

EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_BAD_INPUT = 2

F = TypeVar("F", bound=Callable[..., Any])


def stderr_console(quiet: bool = False):
    """A rich console on stderr (logs never go to stdout)."""
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, highlight=False)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit-2 exception to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_BAD_INPUT)


def handle_errors(func: F) -> F:
    """Decorator for commands: user-input errors become one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pxrdsolve.errors import PxrdsolveError
        from pxrdsolve.interrupt import Interrupted

        try:
            return func(*args, **kwargs)
        except Interrupted as exc:  # stopped by SIGTERM/SIGINT at a safe point; --resume continues
            print(f"stopped: {exc}", file=sys.stderr)
            raise typer.Exit(exc.exit_status) from None
        except PxrdsolveError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, quiet: bool = False
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n, total=None)``; a rich progress bar only when stderr is a terminal.

    ``total`` may be unknown at first and given later through ``advance(0, total=N)``.
    """
    if quiet or not sys.stderr.isatty():
        yield lambda n=1, total=None: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr_console(),
    ) as prog:
        task = prog.add_task(description, total=total)

        def advance(n: int = 1, total: int | None = None) -> None:
            if total is not None:
                prog.update(task, total=total)
            prog.advance(task, n)

        yield advance


def emit_json(payload: Any) -> None:
    """Write machine-readable results on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()
