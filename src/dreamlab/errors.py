"""User-facing errors: one line that names the problem, shown by the CLI without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["DreamlabError", "unknown_choice"]


class DreamlabError(Exception):
    """An error caused by the user's input (a name, an option, a file), not by a bug.

    The CLI prints ``dreamlab: <message>`` on one line and exits with code 2.
    """


def unknown_choice(kind: str, name: str, choices: Iterable[str], hint: str = "") -> DreamlabError:
    """An error for an unknown ``kind`` (system, environment, preset, option) that lists the valid ones.

    >>> str(unknown_choice("system", "dyna-q", ["dyna", "muzero"]))
    "unknown system 'dyna-q' (did you mean 'dyna'?); choose from: dyna, muzero"
    """
    valid = sorted(choices)
    close = difflib.get_close_matches(name, valid, n=1)
    guess = f" (did you mean '{close[0]}'?)" if close else ""
    tail = f"; {hint}" if hint else ""
    return DreamlabError(f"unknown {kind} '{name}'{guess}; choose from: {', '.join(valid)}{tail}")
