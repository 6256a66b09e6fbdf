"""Champion/challenger: when does a newly evaluated version take the champion alias?

Only on evidence. A pure function of the evaluation, so the rule is testable apart from
any registry:

- the test split must be large enough (``data.split.min_test_songs`` /
  ``min_test_artists``); otherwise the answer is "not enough evidence", never a silent
  promotion;
- the first version must beat doing nothing with a paired lead over no-op whose 95 %
  interval (bootstrap over songs) lies above ``margin``;
- a challenger must beat the champion, scored anew on the same recipes, with a paired
  lead whose interval lies above ``margin``, without a lower valid-call rate and without
  making more recipes worse than the input than the champion does.

Every reason states the lead with its interval, so the asset metadata and the model
version's tags say why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    recovery_pooled: float
    valid_call_rate: float
    worse_than_noop: float


@dataclass(frozen=True)
class Lead:
    """The candidate's paired lead in pooled recovery over another predictor."""

    lead: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.lead:+.4f} (95% interval {self.low:+.4f} to {self.high:+.4f})"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(
    candidate: Scores,
    champion: Scores | None,
    lead: Lead,
    enough_evidence: bool = True,
    evidence: str = "",
    margin: float = 0.0,
) -> Decision:
    """``lead`` is over the champion when there is one, else over no-op; ``evidence`` is
    why the test split is (not) large enough."""
    if not enough_evidence:
        return Decision(False, evidence or "not enough evidence")
    if champion is None:
        if lead.low > margin:
            return Decision(True, f"no champion yet; lead over no-op {lead} is above {margin:g}")
        return Decision(
            False, f"lead over no-op {lead} is not above {margin:g}: it may not beat doing nothing"
        )
    if candidate.valid_call_rate < champion.valid_call_rate:
        return Decision(
            False,
            f"valid-call rate {candidate.valid_call_rate:.3f} is below the champion's "
            f"{champion.valid_call_rate:.3f}",
        )
    if candidate.worse_than_noop > champion.worse_than_noop:
        return Decision(
            False,
            f"makes {candidate.worse_than_noop:.1%} of the recipes worse than the input, "
            f"more than the champion's {champion.worse_than_noop:.1%}",
        )
    if lead.low <= margin:
        return Decision(
            False,
            f"lead over the champion {lead} is not above {margin:g}: not a lead the "
            "test set supports",
        )
    return Decision(True, f"lead over the champion {lead} is above {margin:g}")


def already_champion(version: str) -> Decision:
    """The decision when the version under test already holds the alias."""
    return Decision(False, f"version {version} already is the champion (re-evaluated)")
