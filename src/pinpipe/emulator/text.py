"""Per-category titles, descriptions and tag lists: plausible, cheap, deterministic.

The pipeline never looks at what the words mean, only at shapes (lengths, the `…` + U+00A0
truncation, nine title-cased tags), so text is assembled from word pools with the caller's
``random.Random`` rather than Faker's slower sentence providers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pinpipe.emulator import vocab

MAX_TITLE = 199
MAX_DESCRIPTION = 180
_CUT = MAX_DESCRIPTION - len(vocab.TRUNCATION_MARK)


def _title_case(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def _pick(rng: random.Random, seq: tuple[str, ...]) -> str:
    """``rng.choice`` without its per-call overhead (a third of the cost at a million rows)."""
    return seq[int(rng.random() * len(seq))]


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` (inclusive), faster: one float draw."""
    return low + int(rng.random() * (high - low + 1))


_TAILS = tuple(_title_case(t) for t in vocab.TAG_TAILS)


@dataclass(frozen=True, slots=True)
class CategoryText:
    """Word pools of one category (title-cased where they go into titles and tags)."""

    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    tags: tuple[str, ...]
    words: tuple[str, ...]

    @classmethod
    def build(cls, category: str, common_words: tuple[str, ...]) -> CategoryText:
        nouns, adjectives = vocab.CATEGORY_WORDS[category]
        tags: set[str] = set()
        for noun in nouns:
            tags.add(_title_case(noun))
            tags.update(_title_case(f"{adj} {noun}") for adj in adjectives)
            tags.update(_title_case(f"{noun} {tail}") for tail in vocab.TAG_TAILS)
        # Category words weigh as much as the whole common vocabulary, so text stays on topic.
        repeat = max(1, len(common_words) // (len(nouns) + len(adjectives)))
        words = common_words + (nouns + adjectives) * repeat
        return cls(
            tuple(_title_case(n) for n in nouns),
            tuple(_title_case(a) for a in adjectives),
            tuple(sorted(tags)),
            words,
        )

    def title(self, rng: random.Random, poster: str) -> str:
        noun, adj, tail = _pick(rng, self.nouns), _pick(rng, self.adjectives), _pick(rng, _TAILS)
        style = int(rng.random() * 7)
        if style == 0:
            text = f"{_between(rng, 5, 60)} {adj} {noun} {tail}"
        elif style == 1:
            text = f"{adj} {noun} {tail} - {poster.strip()}"
        elif style == 2:
            text = f"How to Make {adj} {noun} {tail} in {_between(rng, 3, 30)} Minutes"
        elif style == 3:
            text = self.sentence(rng, _between(rng, 5, 24)).rstrip(".")
        elif style == 4:
            text = noun if rng.random() < 0.5 else f"{adj} {noun}"
        elif style == 5:
            text = f"The Best {adj} {noun} {tail} for {_between(rng, 2018, 2022)}"
        else:
            text = f"{adj} {noun} {tail} | {self.sentence(rng, _between(rng, 3, 12)).rstrip('.')}"
        return text[:MAX_TITLE].rstrip()

    def sentence(self, rng: random.Random, n_words: int) -> str:
        text = " ".join(rng.choices(self.words, k=n_words))
        return text[:1].upper() + text[1:] + "."

    def description(self, rng: random.Random, truncated: bool) -> str:
        """A description; truncated ones are cut near 180 characters and end with `…` + NBSP."""
        target = MAX_DESCRIPTION + 20 if truncated else 15 + int((_CUT - 15) * rng.random() ** 0.8)
        parts: list[str] = []
        size = -1
        while size < target:
            sentence = self.sentence(rng, _between(rng, 5, 14))
            parts.append(sentence)
            size += len(sentence) + 1
        text = " ".join(parts)
        if truncated:
            cut = text.rfind(" ", 0, _CUT - int(rng.random() * 3))
            return text[:cut].rstrip(" .,") + vocab.TRUNCATION_MARK
        if len(text) > target:
            cut = text.rfind(" ", 0, target)
            text = text[:cut].rstrip(" .,") + "." if cut > 0 else text[:target]
        return text

    def tag_list(self, rng: random.Random) -> str:
        """Nine (rarely eight) distinct tags, joined by commas without spaces."""
        count = 8 if rng.random() < vocab.SHARE_EIGHT_TAGS else 9
        tags = rng.choices(self.tags, k=count)
        while len(set(tags)) < count:
            tags = rng.choices(self.tags, k=count)
        return ",".join(tags)
