"""Natural-language prompts for augmentation recipes.

Blind fixes are ambiguous (songs differ in band levels by as much as the distortion:
docs/evaluation.md), so most of the signal has to come from the text: an "instruct"
prompt states the change with its exact numbers, so its target is well-posed, and a
named-problem "fix" prompt tells which way the audio is off. Wording is drawn from
several templates per tool so the model learns the meaning, not one sentence.

Each registry tool has one instruct phrase builder (``instruct.py``) and one problem
describer (``problems.py``); a tool without them is a :class:`ValueError` naming this
package, and a test iterates the registry, so adding a tool means adding its wording.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

from mixer_core.data.prompts.instruct import INSTRUCT
from mixer_core.data.prompts.problems import PROBLEMS
from mixer_core.data.prompts.wording import capitalise, in_order, join_plain
from mixer_core.language.grammar import ToolCall

_Wording = TypeVar("_Wording")

GENERIC_FIX_PROMPTS: tuple[str, ...] = (
    "Fix the mix.",
    "Make this sound like the original master.",
    "Clean this up.",
    "Undo whatever was done to this.",
    "Restore the original sound.",
    "Make it sound the way it should again.",
    "Can you fix this?",
    "Repair the mix so it sounds like the original.",
    "Get this back to how it was mastered.",
    "Something is off here, please correct it.",
)

_PROBLEM_TEMPLATES: tuple[str, ...] = (
    "{P}. Can you fix it?",
    "{P}, please fix that.",
    "Fix this: {p}.",
    "The problem is that {p}. Sort it out.",
    "{P}. Make it sound the way it should.",
    "{P}. Please correct the mix.",
)

_NO_CHANGE_PROMPTS: tuple[str, ...] = (
    "Leave it as it is.",
    "Don't change anything.",
    "Keep it exactly as it is.",
    "No changes, please.",
)

_INSTRUCT_TEMPLATES: tuple[str, ...] = (
    "{x}.",
    "Please {x}.",
    "Could you {x}?",
    "I'd like you to {x}.",
    "Can you {x}?",
)


def _wording(table: Mapping[str, _Wording], name: str, kind: str) -> _Wording:
    try:
        return table[name]
    except KeyError:
        raise ValueError(
            f"mixer_core/data/prompts: no {kind} wording for tool {name!r}; add it there"
        ) from None


PromptKind = Literal["instruct", "named fix", "generic fix"]
PROMPT_KINDS: tuple[PromptKind, ...] = ("instruct", "named fix", "generic fix")


def prompt_kind(mode: str, prompt: str) -> PromptKind:
    """What a recipe's prompt asks: an instruction, a fix that names its problem, or a
    blind "fix this" (one of ``GENERIC_FIX_PROMPTS``)."""
    if mode == "instruct":
        return "instruct"
    return "generic fix" if prompt in GENERIC_FIX_PROMPTS else "named fix"


def describe_problems(calls: Sequence[ToolCall], rng: random.Random) -> list[str]:
    """What a listener would complain about after ``calls``, in chain order.

    Empty when every distortion is too small to name.
    """
    problems: list[str] = []
    for call in calls:
        for problem in _wording(PROBLEMS, call.name, "problem")(call.resolved(), rng):
            if problem not in problems:
                problems.append(problem)
    return problems


def fix_prompt(calls: Sequence[ToolCall], rng: random.Random, name_problem: bool) -> str:
    """A request to undo ``calls`` (the distortion chain).

    With ``name_problem`` the prompt names what the distortion did, so the direction of
    the fix is given by the text; otherwise (or when nothing is big enough to name)
    it is a generic request and the model must judge from the audio alone.
    """
    problems = describe_problems(calls, rng) if name_problem else []
    if not problems:
        return rng.choice(GENERIC_FIX_PROMPTS)
    text = join_plain(problems)
    return rng.choice(_PROBLEM_TEMPLATES).format(p=text, P=capitalise(text))


def instruct_prompt(calls: Sequence[ToolCall], rng: random.Random) -> str:
    """A request that states ``calls``, every given argument with its exact number.

    Arguments a call leaves at their default are left unsaid or called "some", so the
    prompt and the program mean the same thing and the target is well-posed.
    """
    if not calls:
        return rng.choice(_NO_CHANGE_PROMPTS)
    phrases = [_wording(INSTRUCT, call.name, "instruct")(call.args, rng) for call in calls]
    return capitalise(rng.choice(_INSTRUCT_TEMPLATES).format(x=in_order(phrases, rng)))
