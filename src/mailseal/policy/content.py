"""Content conditions of rules (DLP-lite): keywords, regular expressions and built-in detectors counted over the
text of a message, with a threshold; and `[policy.content]`, how much text is read. Pure functions over text.

What matched is never kept: a condition answers a count, and decisions name the rule only (docs/policy.md,
"Content rules")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from . import validation as v
from .detectors import DETECTORS

if TYPE_CHECKING:
    from ..mime.entity import Entity

CONTENT_KEYS: tuple[str, ...] = ("content_keywords", "content_patterns", "content_detectors", "content_threshold")
SETTINGS_KEYS: tuple[str, ...] = ("max_scan_size",)
DEFAULT_MAX_SCAN = 1 << 20
MAX_PATTERN_MEMORY = 8 << 20  # what one compiled expression may use (RE2's default is 8 MiB too)


def _re2() -> Any:
    # google-re2: matching time is linear in the text for every pattern, so an administrator's expression can
    # never make the gateway backtrack for minutes over a sender's message (Python's re can).
    import re2  # type: ignore[import-untyped]

    return re2


@dataclass(frozen=True)
class Pattern:
    """An administrator's regular expression (RE2 syntax), compiled once."""

    text: str
    compiled: Any

    @classmethod
    def parse(cls, text: str, where: str) -> Pattern:
        re2 = _re2()
        options = re2.Options()
        options.log_errors = False
        options.max_mem = MAX_PATTERN_MEMORY
        try:
            compiled = re2.compile(text, options=options)
        except re2.error as exc:
            detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ConfigurationError(f"{where}: {text!r} is not a regular expression mailseal accepts (RE2 syntax: "
                                     f"no backreferences or lookaround): {detail}") from None
        if compiled.search("") is not None:
            raise ConfigurationError(f"{where}: {text!r} matches the empty text, so it would match every message")
        return cls(text, compiled)

    def count(self, text: str) -> int:
        return sum(1 for _ in self.compiled.finditer(text))


@dataclass(frozen=True)
class ContentCondition:
    """What a rule looks for in the text: it holds when the keywords, patterns and detectors together match at
    least ``threshold`` times (every occurrence counts)."""

    keywords: tuple[str, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    detectors: tuple[str, ...] = ()
    threshold: int = 1

    @classmethod
    def parse(cls, tbl: Mapping[str, Any], where: str) -> ContentCondition | None:
        """The condition written in a rule's content_* keys; None when the rule has none."""
        if not any(k in tbl for k in CONTENT_KEYS):
            return None
        def strings(key: str) -> tuple[str, ...]:
            return v.string_list(tbl[key], f"{where}.{key}") if key in tbl else ()

        keywords = tuple(k.strip() for k in strings("content_keywords"))
        if any(not k for k in keywords):
            raise ConfigurationError(f"{where}.content_keywords: a keyword is empty")
        patterns = tuple(Pattern.parse(p, f"{where}.content_patterns[{i}]")
                         for i, p in enumerate(strings("content_patterns")))
        detectors = tuple(d.strip().lower() for d in strings("content_detectors"))
        for d in detectors:
            if d not in DETECTORS:
                raise ConfigurationError(f'{where}.content_detectors: "{d}" is not one of {", ".join(DETECTORS)}'
                                         f"{v.did_you_mean(d, DETECTORS)}")
        if not (keywords or patterns or detectors):
            raise ConfigurationError(f"{where}: content_threshold needs something to count: content_keywords, "
                                     "content_patterns or content_detectors")
        threshold = 1
        if "content_threshold" in tbl:
            raw = tbl["content_threshold"]
            if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 10_000:
                raise ConfigurationError(f"{where}.content_threshold must be a whole number from 1 to 10000")
            threshold = raw
        return cls(keywords, patterns, tuple(dict.fromkeys(detectors)), threshold)

    def _keyword_patterns(self) -> tuple[re.Pattern[str], ...]:
        cached: tuple[re.Pattern[str], ...] | None = self.__dict__.get("_keyword_cache")
        if cached is None:
            # A keyword matches as a whole word or phrase, any case ("secret" does not match "secretary"); an
            # escaped literal has no backtracking to fear.
            cached = tuple(re.compile(r"(?<!\w)" + re.escape(k) + r"(?!\w)", re.I) for k in self.keywords)
            self.__dict__["_keyword_cache"] = cached  # frozen dataclass: memoise without __setattr__
        return cached

    def count(self, text: str) -> int:
        """How many times the keywords, patterns and detectors match in ``text``, all together."""
        total = sum(len(p.findall(text)) for p in self._keyword_patterns())
        total += sum(p.count(text) for p in self.patterns)
        return total + sum(DETECTORS[d](text) for d in self.detectors)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.keywords:
            out["content_keywords"] = list(self.keywords)
        if self.patterns:
            out["content_patterns"] = [p.text for p in self.patterns]
        if self.detectors:
            out["content_detectors"] = list(self.detectors)
        out["content_threshold"] = self.threshold
        return out


@dataclass(frozen=True)
class ContentSettings:
    """`[policy.content]`: how much of a message's text content rules read (characters, the rest is not scanned)."""

    max_scan_size: int = DEFAULT_MAX_SCAN

    @classmethod
    def parse(cls, value: Any, where: str = "policy.content") -> ContentSettings:
        tbl = v.table(value, where)
        v.check_keys(tbl, SETTINGS_KEYS, where)
        if "max_scan_size" not in tbl:
            return cls()
        size = v.size(tbl["max_scan_size"], f"{where}.max_scan_size")
        if not 1024 <= size <= 64 << 20:
            raise ConfigurationError(f"{where}.max_scan_size must be from 1K to 64M")
        return cls(size)

    def to_dict(self) -> dict[str, Any]:
        return {"max_scan_size": self.max_scan_size}


def limited(text: str, settings: ContentSettings) -> tuple[str, tuple[str, ...]]:
    """A text given as a sample (`policy explain --text`, the console's tester) cut to the scan limit, as the
    gateway cuts a message's."""
    if len(text) <= settings.max_scan_size:
        return text, ()
    return text[:settings.max_scan_size], (f"content scanned: the first {settings.max_scan_size} characters only "
                                           "(policy.content.max_scan_size)",)


def message_text(entity: Entity, settings: ContentSettings) -> tuple[str, tuple[str, ...]]:
    """The text content rules read in a message (Subject, text parts, text attachments; mailseal.mime.text) and
    notes on what was left out."""
    from ..mime.text import extract_text

    found = extract_text(entity, settings.max_scan_size)
    notes: list[str] = []
    if found.truncated:
        notes.append(f"content scanned: the first {settings.max_scan_size} characters only "
                     "(policy.content.max_scan_size)")
    for kind in dict.fromkeys(found.skipped):
        notes.append(f"content not scanned: {kind} ({found.skipped.count(kind)})")
    return found.text, tuple(notes)


class ContentScan:
    """The text of one message and the counts of each content rule over it, each counted at most once however many
    recipients ask. ``text`` None: the text was not read (no content rule can match)."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self._counts: dict[str, int] = {}

    def count(self, name: str, condition: ContentCondition) -> int | None:
        if self.text is None:
            return None
        if name not in self._counts:
            self._counts[name] = condition.count(self.text)
        return self._counts[name]

    def holds(self, name: str, condition: ContentCondition) -> bool:
        found = self.count(name, condition)
        return found is not None and found >= condition.threshold

    def note(self, name: str, condition: ContentCondition) -> str:
        """What a decision may say about a content rule: the count and the threshold, never the text."""
        found = self.count(name, condition)
        if found is None:
            return f"content of rule {name} not evaluated: the message text was not read"
        return f"rule {name}: {found} content match{'es' if found != 1 else ''} (threshold {condition.threshold})"


__all__ = ["CONTENT_KEYS", "DEFAULT_MAX_SCAN", "ContentCondition", "ContentScan", "ContentSettings", "Pattern",
           "limited", "message_text"]
