"""Page numbers for the paged lists (systems, audit trail): which to offer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paging:
    """Where a page of a list is: its number and the number of pages (None: not known)."""

    page: int
    pages: int | None

    def numbers(self) -> list[int | None]:
        """The page numbers to offer: the first, the last, and two either side of this
        one; None stands for the pages left out between them."""
        last = self.pages or self.page
        shown = sorted({1, last, *range(max(1, self.page - 2), min(last, self.page + 2) + 1)})
        out: list[int | None] = []
        for n in shown:
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out
