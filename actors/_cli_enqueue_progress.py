"""How far ``actors enqueue --file`` got: what its errors and a Ctrl-C must tell the user.

Its cases are written a batch at a time, each in one transaction; on an error or an
interruption the batches before stay written, so the user must learn which lines to run
again (and, without ids, that running the whole file again writes cases twice).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Progress"]


class Progress:
    """How far ``enqueue --file`` got: what an error must tell the user."""

    def __init__(self, *, from_file: bool, ids: bool) -> None:
        self.from_file = from_file
        self.ids = ids
        self.written = 0
        self.through = 0  # the last line of the last batch written
        self.skipped = 0

    def done(self, written: int, through: int) -> None:
        self.written += written
        self.through = through

    def interrupted(self) -> str:
        """What an interrupted run wrote, and how to finish it."""
        if not self.from_file:
            return f"{self.written} case(s) written" if self.written else "nothing was written"
        if not self.through:
            return "nothing was written"
        told = f"{self.written} case(s) written, from lines 1 to {self.through}"
        if self.ids:
            return f"{told}; run it again with --skip-existing to write the rest"
        return f"{told}; they have new ids: run only the lines after {self.through} again"

    def cut_short(self, chunk: list[tuple[int, Any]]) -> str:
        """What a run stopped inside a batch's write wrote; that batch is uncertain."""
        what = f"lines {chunk[0][0]} to {chunk[-1][0]}" if self.from_file else "the case"
        return (
            f"{self.interrupted()}; a second Ctrl-C stopped the write of {what}, which "
            "may or may not be in the store: look before running them again"
        )

    def __str__(self) -> str:
        if not self.from_file:
            return "nothing was written"
        if not self.through:
            return "nothing was written"
        told = f"{self.written} case(s) written, from lines 1 to {self.through}"
        if self.skipped:
            told += f" ({self.skipped} skipped as already there)"
        if self.ids:
            return f"{told}; fix the file and run it again with --skip-existing"
        return (
            f"{told}; they have new ids, so running the whole file again would write them "
            "twice: remove those lines first, or name cases with --id-field and use "
            "--skip-existing"
        )
