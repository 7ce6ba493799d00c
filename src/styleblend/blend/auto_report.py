"""How near an automatic α search came to the box of tables better than every plain swap.

The *box* is the set of tables better than every plain swap on both scores: realism above the most realistic
swap's and distance below the closest swap's (issue 14's "beats every plain swap"). When the two best swaps
sit at opposite ends of the trade-off the box can be empty, and a report must say how far the search stayed
from it rather than only that it found nothing (see docs/auto-alpha.md, "Is there a box?").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auto import AutoResult


def box(result: AutoResult) -> dict[str, Any] | None:
    """The box on the search's own latents and how near the scored tables came to it.

    Returns {'realism_above', 'most_realistic_swap', 'distance_below', 'closest_swap' (the corner and the swaps
    that set it), 'inside' (how many searched tables are in the box), 'best_realism_closer' (the best realism of
    a searched table closer to the base than the closest swap; None: none is), 'best_distance_more_realistic'
    (the least distance of a searched table more realistic than the most realistic swap; None: none is)}; None
    without swaps.
    """
    if not result.swaps:  # a model of one block resolution has no swap
        return None
    top = max(result.swaps, key=lambda s: s.realism)
    near = min(result.swaps, key=lambda s: s.distance)
    tables = [c for c in result.candidates if c.label not in ("base", "transfer") and not c.label.startswith("swap")]
    closer = [c.realism for c in tables if c.distance < near.distance]
    realer = [c.distance for c in tables if c.realism > top.realism]
    return {"realism_above": top.realism, "most_realistic_swap": top.label, "distance_below": near.distance,
            "closest_swap": near.label, "inside": sum(c.realism > top.realism and c.distance < near.distance
                                                      for c in tables),
            "best_realism_closer": max(closer) if closer else None,
            "best_distance_more_realistic": min(realer) if realer else None}
