"""Champion/challenger: when does a newly evaluated version take the champion alias?

Kept as a pure function of two evaluation summaries so the rule is testable apart
from MLflow: the candidate must beat the champion on the primary metric (pooled
MR-STFT recovery on the same test recipes) without lowering the valid-call rate;
with no champion yet it must at least beat doing nothing (recovery > 0).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    recovery_pooled: float
    valid_call_rate: float


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate: Scores, champion: Scores | None) -> Decision:
    if champion is None:
        if candidate.recovery_pooled > 0.0:
            return Decision(True, "no champion yet and the model beats no-op")
        return Decision(False, "no champion yet, but the model does not beat no-op")
    if candidate.valid_call_rate < champion.valid_call_rate:
        return Decision(
            False,
            f"valid-call rate {candidate.valid_call_rate:.3f} is below the champion's "
            f"{champion.valid_call_rate:.3f}",
        )
    if candidate.recovery_pooled <= champion.recovery_pooled:
        return Decision(
            False,
            f"pooled recovery {candidate.recovery_pooled:.4f} does not beat the champion's "
            f"{champion.recovery_pooled:.4f}",
        )
    return Decision(
        True,
        f"pooled recovery {candidate.recovery_pooled:.4f} beats the champion's "
        f"{champion.recovery_pooled:.4f}",
    )
