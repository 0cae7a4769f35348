"""Held-out splits by clip id: every question about a clip is either trained on or held out, never both."""

from __future__ import annotations

import random
from collections.abc import Sequence


def split_clip_ids(ids: Sequence[str], heldout_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded split of clip ids into sorted (train, held-out) lists; no clip is in both, at least one in each.

    Duplicated ids count once and the input order does not matter: the same ids and seed give the same split."""
    unique = sorted(set(ids))
    if len(unique) < 2:
        raise ValueError(f"split_clip_ids: need at least two distinct clip ids, got {len(unique)}")
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"split_clip_ids: heldout_fraction must be in (0, 1), got {heldout_fraction}")
    random.Random(seed).shuffle(unique)
    n_held = min(len(unique) - 1, max(1, round(heldout_fraction * len(unique))))
    return sorted(unique[n_held:]), sorted(unique[:n_held])


__all__ = ["split_clip_ids"]
