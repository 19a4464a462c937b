"""How a join combines its branches' data: the default merge, and ``merge_changes``.

Every branch of a split by names starts from a copy of the data as it was at the split.
The default merge (the contract's) updates the parent's dict with each branch's whole
dict in branch order, so a key one branch changed is put back to its value at the split
by the unchanged copy of any branch after it. ``merge_changes`` keeps each branch's
changes instead; ``reverted_keys`` names what the default merge put back, for the
warning a runner logs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["default_merge", "merge_changes", "reverted_keys"]

_NEEDS_DICTS = "needs dict data; give the join a merge= function"


def default_merge(parent: Any, branches: list[Any]) -> Any:
    """Update the parent dict with each branch's dict, in branch order."""
    if not isinstance(parent, dict) or not all(isinstance(b, dict) for b in branches):
        msg = f"the default merge {_NEEDS_DICTS}"
        raise TypeError(msg)
    for branch in branches:
        parent.update(branch)
    return parent


def merge_changes(parent: dict[str, Any], branches: list[dict[str, Any]]) -> dict[str, Any]:
    """A join's ``merge``: set in the parent each key a branch added or changed, in order.

    ``parent`` is the data as it was at the split; a key whose value in a branch equals
    the parent's is no change of that branch's, so it never undoes what another branch
    wrote. Of two branches that change one key, the later one's value stays. A key a
    branch deleted stays in the parent. Use it as ``Synchronize("join",
    merge=merge_changes)`` (or on a ``Discriminator``) where branches write different
    keys of one dict.
    """
    if not isinstance(parent, dict) or not all(isinstance(b, dict) for b in branches):
        msg = f"merge_changes {_NEEDS_DICTS}"
        raise TypeError(msg)
    before = dict(parent)
    for branch in branches:
        for key, value in branch.items():
            if key not in before or before[key] != value:
                parent[key] = value
    return parent


def reverted_keys(parent: Any, branches: list[Any]) -> list[str]:
    """Keys a branch changed that the default merge puts back to their value at the split.

    Such a key's last writer in branch order is a branch that left it unchanged, after
    one that changed it. Empty for data the default merge refuses (it says why).
    """
    if not isinstance(parent, dict) or not all(isinstance(b, dict) for b in branches):
        return []
    lost = []
    for key, at_split in parent.items():  # only a key the data had can be put back
        changed = put_back = False
        for branch in branches:
            if key in branch:
                value = branch[key]
                if value is at_split or value == at_split:  # an unchanged copy
                    put_back = changed
                else:
                    changed, put_back = True, False
        if put_back:
            lost.append(str(key))
    return sorted(lost)
