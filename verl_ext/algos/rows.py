"""Per-sequence summaries of a batch, whatever container verl holds its per-token fields in.

verl passes per-token fields either as jagged nested tensors (TransferQueue, the V1 workers) or as
padded (batch, length) tensors; these helpers give one value per sequence for both.
"""

from __future__ import annotations

import torch


def _rows(values) -> list[torch.Tensor]:
    if getattr(values, "is_nested", False):
        return list(values.unbind())
    return list(values)


def sequence_sums(values, mask) -> torch.Tensor:
    """Masked sum of each sequence's per-token values (float64)."""
    return torch.tensor(
        [float((v.double() * m.double()).sum()) for v, m in zip(_rows(values), _rows(mask))], dtype=torch.float64
    )


def sequence_means(values, mask) -> torch.Tensor:
    """Masked mean of each sequence's per-token values; for GRPO advantages it is the group-normalised scalar."""
    sums = sequence_sums(values, mask)
    counts = torch.tensor([float(m.double().sum()) for m in _rows(mask)], dtype=torch.float64)
    return sums / counts.clamp_min(1)


def uid_list(uids) -> list[str]:
    """Group ids as plain strings, from a list, a numpy array or a tensordict ``NonTensorStack``."""
    if hasattr(uids, "tolist"):
        uids = uids.tolist()
    return [str(u) for u in uids]


def sequence_fingerprints(uids, advantages, old_log_probs, mask, digits: int = 6) -> list[list]:
    """``[uid, advantage, summed old log-prob]`` per sequence, rounded so that both sides of a
    transfer compare equal: enough to tell every sequence of a batch apart and to see that each row
    kept its own advantage and old log-probs."""
    adv = sequence_means(advantages, mask)
    old = sequence_sums(old_log_probs, mask)
    return [[u, round(float(a), digits), round(float(o), digits)] for u, a, o in zip(uid_list(uids), adv, old)]
