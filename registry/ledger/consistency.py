"""Consistency proofs between two signed checkpoints (RFC 9162 section 2.1.4).

A reader holding the checkpoint of ``from`` events asks for the proof that the
checkpoint of ``to`` events extends it; both sizes must be of signed checkpoints, so
both roots are ones the registry signed. No Flask: the API and the command line call
:func:`prove_consistency` and print :meth:`ConsistencyProof.as_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.errors import InvalidInput
from registry.ledger.models import Checkpoint
from registry.ledger.proofs import consistency_proof


class InvalidSizes(InvalidInput):
    """Tree sizes that cannot be proven consistent; the errors name the query
    parameters ``from`` and ``to``."""

    error_location = "parameter"


@dataclass(frozen=True)
class ConsistencyProof:
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    path: list[bytes]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_size,
            "to": self.to_size,
            "from_root": self.from_root,
            "to_root": self.to_root,
            "proof": [h.hex() for h in self.path],
        }


def _checkpoint_root(session: Session, size: int) -> str | None:
    return session.scalar(sa.select(Checkpoint.root_hash).where(Checkpoint.tree_size == size))


def prove_consistency(session: Session, from_size: int, to_size: int) -> ConsistencyProof:
    """The proof that the signed tree of ``from_size`` events is a prefix of the signed
    tree of ``to_size`` events. InvalidInput (naming the parameter, ``from`` or ``to``)
    when ``from_size > to_size`` or a size is not the tree size of a signed checkpoint."""
    errors: dict[str, list[str]] = {}
    if from_size > to_size:
        errors["from"] = [f"Must not be larger than to ({to_size})."]
    roots: dict[str, str] = {}
    for name, size in (("from", from_size), ("to", to_size)):
        root = _checkpoint_root(session, size) if size > 0 else None
        if root is None:
            errors.setdefault(name, []).append(f"No signed checkpoint has tree size {size}.")
        else:
            roots[name] = root
    if errors:
        raise InvalidSizes(
            "A consistency proof is between the tree sizes of two signed checkpoints, "
            "the smaller one first.",
            errors,
        )
    return ConsistencyProof(
        from_size,
        to_size,
        roots["from"],
        roots["to"],
        consistency_proof(session, from_size, to_size),
    )
