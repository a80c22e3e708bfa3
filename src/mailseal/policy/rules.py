"""`[[policy.rules]]`: conditions on one recipient of one message, evaluated in order, the first match winning."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from . import validation as v
from .actions import ACTION_KEYS, Action, ActionSettings, Direction, EncryptMode
from .addresses import AddressPattern
from .content import CONTENT_KEYS, ContentCondition, ContentScan
from .facts import MessageFacts

CONDITION_KEYS: tuple[str, ...] = ("direction", "from", "to", "subject_contains", "header", "min_size", "max_size",
                                   *CONTENT_KEYS)
#: ``action`` values that are shorthands for an ``encrypt`` setting of the rule rather than an Action: "encrypt"
#: demands S/MIME (encrypt = "require"), "portal" sends through the recipient portal (encrypt = "portal").
ENCRYPT_ACTIONS: Mapping[str, str] = {"encrypt": "require", "portal": "portal"}
RULE_KEYS: tuple[str, ...] = ("name", *CONDITION_KEYS, "remove_trigger", "action", "reason", *ACTION_KEYS)
DIRECTIONS: tuple[str, ...] = ("any", *(d.value for d in Direction))


@dataclass(frozen=True)
class HeaderCondition:
    """A header field by name (any case), with a value when given (whole value, any case, spaces trimmed)."""

    name: str
    value: str | None = None

    def matches(self, headers: tuple[tuple[str, str], ...]) -> bool:
        for name, value in headers:
            if name.strip().lower() == self.name and (self.value is None or _fold(value) == self.value):
                return True
        return False


@dataclass(frozen=True)
class Rule:
    """One `[[policy.rules]]` entry: conditions (all must hold) and what it sets (overriding inherited settings)."""

    name: str
    direction: str = "any"
    from_patterns: tuple[AddressPattern, ...] = ()
    to_patterns: tuple[AddressPattern, ...] = ()
    subject_contains: str | None = None
    header: HeaderCondition | None = None
    min_size: int | None = None
    max_size: int | None = None
    content: ContentCondition | None = None
    remove_trigger: bool = False
    action: Action = Action.DELIVER
    reason: str | None = None
    settings: ActionSettings = field(default_factory=ActionSettings)

    @classmethod
    def parse(cls, value: Any, index: int, where: str = "policy.rules") -> Rule:
        at = f"{where}[{index}]"
        tbl = v.table(value, at)
        if "name" not in tbl:
            raise ConfigurationError(f"{at}: every rule needs a name")
        name = v.string(tbl["name"], f"{at}.name").strip()
        at = f'{at} ("{name}")'
        v.check_keys(tbl, RULE_KEYS, at)
        kwargs: dict[str, Any] = {"name": name, "settings": ActionSettings.parse(tbl, at)}
        content = ContentCondition.parse(tbl, at)
        if content is not None:
            kwargs["content"] = content
        if "direction" in tbl:
            direction = v.string(tbl["direction"], f"{at}.direction").strip().lower()
            if direction not in DIRECTIONS:
                raise ConfigurationError(f'{at}.direction: "{tbl["direction"]}" is not one of {", ".join(DIRECTIONS)}'
                                         f"{v.did_you_mean(direction, DIRECTIONS)}")
            kwargs["direction"] = direction
        for key, attr in (("from", "from_patterns"), ("to", "to_patterns")):
            if key in tbl:
                kwargs[attr] = tuple(AddressPattern.parse(p, f"{at}.{key}[{i}]")
                                      for i, p in enumerate(v.string_list(tbl[key], f"{at}.{key}")))
        if "subject_contains" in tbl:
            kwargs["subject_contains"] = v.string(tbl["subject_contains"], f"{at}.subject_contains").strip()
        if "header" in tbl:
            kwargs["header"] = _header(tbl["header"], f"{at}.header")
        for key in ("min_size", "max_size"):
            if key in tbl:
                kwargs[key] = v.size(tbl[key], f"{at}.{key}")
        if kwargs.get("min_size") is not None and kwargs.get("max_size") is not None \
                and kwargs["min_size"] > kwargs["max_size"]:
            raise ConfigurationError(f"{at}: min_size is larger than max_size, so the rule can never match")
        if "remove_trigger" in tbl:
            kwargs["remove_trigger"] = v.boolean(tbl["remove_trigger"], f"{at}.remove_trigger")
            if kwargs["remove_trigger"] and "subject_contains" not in tbl:
                raise ConfigurationError(f"{at}.remove_trigger needs subject_contains: there is no trigger to remove")
        if "action" in tbl:
            alias = tbl["action"].strip().lower() if isinstance(tbl["action"], str) else None
            if alias is not None and alias in ENCRYPT_ACTIONS:
                kwargs["settings"] = _encrypting(tbl, alias, at)
            else:
                kwargs["action"] = v.choice(tbl["action"], Action, f"{at}.action")
        if "reason" in tbl:
            kwargs["reason"] = v.string(tbl["reason"], f"{at}.reason")
            if kwargs.get("action", Action.DELIVER) is Action.DELIVER:
                raise ConfigurationError(f'{at}.reason is only used with action = "reject" or "hold"')
        return cls(**kwargs)

    @property
    def unconditional(self) -> bool:
        """No condition other than perhaps the direction: every later rule of that direction is unreachable."""
        return not (self.from_patterns or self.to_patterns or self.subject_contains is not None
                    or self.header is not None or self.min_size is not None or self.max_size is not None
                    or self.content is not None)

    @property
    def label(self) -> str:
        return f"rule {self.name}"

    def matches(self, direction: Direction, sender: str, recipient: str, message: MessageFacts,
                scan: ContentScan | None = None) -> bool:
        """Whether every condition holds for this recipient (``sender`` is "" for the null sender). ``scan``
        counts content conditions once per message; without it the message's text is scanned here."""
        if self.direction != "any" and self.direction != direction.value:
            return False
        if self.from_patterns and not any(p.matches(sender) for p in self.from_patterns):
            return False
        if self.to_patterns and not any(p.matches(recipient) for p in self.to_patterns):
            return False
        if self.subject_contains is not None and _fold(self.subject_contains) not in _fold(message.subject):
            return False
        if self.header is not None and not self.header.matches(message.headers):
            return False
        if self.min_size is not None and message.size < self.min_size:
            return False
        if self.max_size is not None and message.size > self.max_size:
            return False
        if self.content is None:
            return True
        # Last: the only condition that reads the text.
        return (scan or ContentScan(message.text)).holds(self.name, self.content)

    def rewrite_subject(self, subject: str) -> str | None:
        """The subject without the trigger text (every occurrence, any case) when remove_trigger is set."""
        if not self.remove_trigger or not self.subject_contains:
            return None
        stripped = re.sub(re.escape(self.subject_contains), " ", subject, flags=re.I)
        return " ".join(stripped.split())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "direction": self.direction}
        if self.from_patterns:
            out["from"] = [p.text for p in self.from_patterns]
        if self.to_patterns:
            out["to"] = [p.text for p in self.to_patterns]
        if self.subject_contains is not None:
            out["subject_contains"] = self.subject_contains
            out["remove_trigger"] = self.remove_trigger
        if self.header is not None:
            out["header"] = {"name": self.header.name, **({"value": self.header.value} if self.header.value else {})}
        for key in ("min_size", "max_size"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.content is not None:
            out.update(self.content.to_dict())
        out["action"] = str(self.action)
        if self.reason:
            out["reason"] = self.reason
        out.update(self.settings.to_dict())
        return out


def parse_rules(value: Any, where: str = "policy.rules") -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise ConfigurationError(f"{where} must be an array of tables: write each rule as [[policy.rules]]")
    rules = tuple(Rule.parse(item, i, where) for i, item in enumerate(value))
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        key = rule.name.lower()
        if key in seen:
            raise ConfigurationError(f'{where}[{i}]: the rule name "{rule.name}" is already used by '
                                     f"{where}[{seen[key]}]; names must be unique")
        seen[key] = i
    return rules


def _header(value: Any, where: str) -> HeaderCondition:
    tbl: Mapping[str, Any] = v.table(value, where)
    v.check_keys(tbl, ("name", "value"), where)
    if "name" not in tbl:
        raise ConfigurationError(f"{where} needs a name, e.g. {{name = \"X-Secure\", value = \"yes\"}}")
    name = v.string(tbl["name"], f"{where}.name").strip().lower()
    if not re.fullmatch(r"[!-9;-~]+", name):
        raise ConfigurationError(f'{where}.name: "{tbl["name"]}" is not a header field name')
    value_text = _fold(v.string(tbl["value"], f"{where}.value", empty=True)) if "value" in tbl else None
    return HeaderCondition(name, value_text)


def _encrypting(tbl: Mapping[str, Any], alias: str, where: str) -> ActionSettings:
    """The rule's settings for ``action = "encrypt"`` or ``"portal"``: its ``encrypt`` setting, set once."""
    mode = ENCRYPT_ACTIONS[alias]
    if "encrypt" in tbl and str(tbl["encrypt"]).strip().lower() != mode:
        raise ConfigurationError(f'{where}: action = "{alias}" means encrypt = "{mode}", but the rule also sets '
                                 f'encrypt = "{tbl["encrypt"]}"')
    if mode not in {m.value for m in EncryptMode}:
        raise ConfigurationError(f'{where}.action: "{alias}" needs encrypt = "{mode}", which this version of '
                                 "mailseal does not offer")
    return ActionSettings.parse({**tbl, "encrypt": mode}, where)


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


__all__ = ["CONDITION_KEYS", "ENCRYPT_ACTIONS", "RULE_KEYS", "HeaderCondition", "Rule", "parse_rules"]
