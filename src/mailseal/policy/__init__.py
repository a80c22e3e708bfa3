"""The administrator's policy (layer 5): for one SMTP transaction, what happens to each recipient and why.

Pure code, no sockets and no database: the gateway passes the envelope, facts read from the message headers and a
``Facts`` object answering what the store knows; ``Policy.decide()`` returns a ``Decision``. Settings are the
`[policy]` table of the settings file (docs/policy.md).
"""

from __future__ import annotations

from .actions import (
    ACTION_KEYS,
    DEFAULTS,
    Action,
    ActionSettings,
    Direction,
    EffectiveSettings,
    EncryptMode,
    MissingCertificate,
    Resolved,
    SignMode,
)
from .addresses import AddressPattern, DomainSet, domain_of, normalize
from .decision import Decision, RecipientDecision, RecipientGroup, SubjectTags
from .engine import POLICY_KEYS, Policy
from .facts import Envelope, Facts, MessageFacts, StaticFacts
from .rules import RULE_KEYS, HeaderCondition, Rule, parse_rules
from .smime import SIGNING_ALGORITHMS, SMIME_KEYS, SmimeSettings

__all__ = [
    "ACTION_KEYS",
    "DEFAULTS",
    "POLICY_KEYS",
    "RULE_KEYS",
    "SIGNING_ALGORITHMS",
    "SMIME_KEYS",
    "Action",
    "ActionSettings",
    "AddressPattern",
    "Decision",
    "Direction",
    "DomainSet",
    "EffectiveSettings",
    "EncryptMode",
    "Envelope",
    "Facts",
    "HeaderCondition",
    "MessageFacts",
    "MissingCertificate",
    "Policy",
    "RecipientDecision",
    "RecipientGroup",
    "Resolved",
    "Rule",
    "SignMode",
    "SmimeSettings",
    "StaticFacts",
    "SubjectTags",
    "domain_of",
    "normalize",
    "parse_rules",
]
