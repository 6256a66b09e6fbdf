"""Champion/challenger: when does a newly evaluated version take the champion alias?

A pure function of evaluation scores, so the rule is testable apart from any registry:
the candidate must beat doing nothing (pooled MR-STFT recovery > 0) and, when there is
a champion, beat it on the primary metric (pooled recovery on the same test recipes)
without lowering the valid-call rate. A champion that has drifted below no-op is no
reason to promote another version that is worse than doing nothing.
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
    if candidate.recovery_pooled <= 0.0:
        return Decision(
            False,
            f"pooled recovery {candidate.recovery_pooled:.4f} does not beat no-op (0)",
        )
    if champion is None:
        return Decision(True, "no champion yet and the model beats no-op")
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


def already_champion(version: str) -> Decision:
    """The decision when the version under test already holds the alias."""
    return Decision(False, f"version {version} already is the champion (re-evaluated)")
