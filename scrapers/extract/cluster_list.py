"""Lists of cluster names inside slide decks (text from `pdf_text`), and name matching.

A list is the run of name-like lines under its heading: short lines (a bullet mark stripped),
not ending like a sentence, not numbered. It ends at a page break, at a line that is not
name-like, or at a line that repeats the heading (even misspelt: the IAPMEI deck follows its pact
list with "Setoral Pacts for ..."). A heading the deck repeats on several slides is resolved by
taking its longest list; where the deck states how many items there are ("sixteen Sectoral
Pacts"), the list must have exactly that many, or parsing fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process

from scrapers.extract.pdf import PAGE_BREAK
from scrapers.extract.text import fold, load_table, normalise_space

_BULLET = re.compile(r"^(?:[•·▪■●◦*\uf0a7\uf0b7]|[-–—](?=\s))\s*")
_NUMBERED = re.compile(r"^(?:\d+|[a-z])[.)]\s")
_MAX_NAME_LENGTH = 80


class UnmatchedName(ValueError):
    """A name that maps to no candidate, or to one another name already took."""


def _is_name_line(line: str) -> bool:
    return (
        0 < len(line) <= _MAX_NAME_LENGTH
        and not line.endswith((".", ":", "!", "?", ";"))
        and not _NUMBERED.match(line)
    )


def _lists_under(text: str, heading: str, repeat_score: float) -> list[list[str]]:
    """For every line equal to `heading`, the name-like lines that follow it on its page."""
    found: list[list[str]] = []
    key = fold(heading)
    for page in text.split(PAGE_BREAK):
        lines = [normalise_space(line) for line in page.splitlines()]
        lines = [line for line in lines if line]
        for i, line in enumerate(lines):
            if fold(line) != key:
                continue
            items: list[str] = []
            for following in lines[i + 1 :]:
                if fuzz.ratio(fold(following), key) >= repeat_score:
                    break
                name = _BULLET.sub("", following)
                if not _is_name_line(name):
                    break
                items.append(name)
            found.append(items)
    return found


def _longest_list(text: str, heading: str, repeat_score: float) -> list[str]:
    lists = [items for items in _lists_under(text, heading, repeat_score) if items]
    if not lists:
        raise ValueError(f"no list of names under the heading {heading!r}")
    longest = max(len(items) for items in lists)
    candidates = [items for items in lists if len(items) == longest]
    if any(items != candidates[0] for items in candidates):
        raise ValueError(f"several different lists of {longest} names under {heading!r}")
    return candidates[0]


def _count(word: str) -> int:
    if word.isdigit():
        return int(word)
    for numbers in load_table("language")["number_words"].values():
        if word.casefold() in numbers:
            return int(numbers[word.casefold()])
    raise ValueError(f"not a count: {word!r}")


def parse_cluster_list_deck(text: str, deck: str = "iapmei_2020") -> dict:
    """Read IAPMEI's cluster-policy slide deck: recognised clusters and the 2019 Sectoral Pacts."""
    spec = load_table("decks")[deck]
    score = float(spec["heading_repeat_score"])
    recognised = _longest_list(text, spec["recognised_heading"], score)
    pacts = _longest_list(text, spec["pacts_heading"], score)

    stated = re.search(spec["pacts_sentence"], text)
    if stated is None:
        raise ValueError("the deck no longer states the year and number of the Sectoral Pacts")
    if _count(stated["count"]) != len(pacts):
        raise ValueError(
            f"the deck states {stated['count']} Sectoral Pacts but lists {len(pacts)} names"
        )
    by = re.search(spec["recognised_by_sentence"], text)
    if by is None:
        raise ValueError("the deck no longer says who recognises the clusters")
    return {
        "recognised": recognised,
        "sectoral_pacts": pacts,
        "recognised_by": by["by"],
        "pacts_year": int(stated["year"]),
    }


def match_names(
    names: Sequence[str], candidates: Iterable[str], threshold: float = 90.0
) -> dict[str, str]:
    """Map each name to the one candidate it spells (case-, accent- and plural-tolerant).

    Raises UnmatchedName when a name scores below `threshold` against every candidate, when its
    two best candidates tie, or when two names map to the same candidate: a name is never dropped.
    """
    pool = list(candidates)
    matched: dict[str, str] = {}
    taken: dict[str, str] = {}
    problems = []
    for name in names:
        best = process.extract(name, pool, scorer=fuzz.ratio, processor=fold, limit=2)
        if not best or best[0][1] < threshold:
            problems.append(f"{name!r} matches no candidate (best: {best[:1]})")
            continue
        if len(best) > 1 and best[1][1] == best[0][1]:
            problems.append(f"{name!r} matches {best[0][0]!r} and {best[1][0]!r} equally")
            continue
        candidate = best[0][0]
        if candidate in taken:
            problems.append(f"{name!r} and {taken[candidate]!r} both match {candidate!r}")
            continue
        taken[candidate] = name
        matched[name] = candidate
    if problems:
        raise UnmatchedName("; ".join(problems))
    return matched
