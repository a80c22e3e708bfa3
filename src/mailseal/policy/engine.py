"""The administrator's policy: settings from `[policy]` and `[gateway].accepted_domains`, and `decide()`.

Pure code: no sockets, no database. What the store knows comes in through the ``Facts`` protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..errors import ConfigurationError
from . import validation as v
from .actions import (
    ACTION_KEYS,
    INBOUND_KEYS,
    OUTBOUND_KEYS,
    SENDER_KEYS,
    Action,
    ActionSettings,
    Direction,
    EffectiveSettings,
    EncryptMode,
    MissingCertificate,
    Resolved,
    SignMode,
)
from .addresses import DomainSet, domain_of, normalize
from .content import ContentScan, ContentSettings
from .decision import Decision, RecipientDecision, SubjectTags
from .facts import Envelope, Facts, MessageFacts
from .rules import Rule, parse_rules
from .smime import SmimeSettings

POLICY_KEYS: tuple[str, ...] = (*ACTION_KEYS, "smime", "domains", "users", "rules", "content")
_RECIPIENT_KEYS = frozenset(ACTION_KEYS) - SENDER_KEYS
_SPECIFICITY = {"default": 0, "global": 1, "domain": 2, "user": 3, "rule": 4}


class Policy:
    """Decides, for one SMTP transaction, what happens to each recipient.

    Settings inherit global -> domain -> user, and the first matching rule overrides them. ``sign`` is taken from
    the *sender's* domain and user entries, every other setting from the *recipient's* (see docs/policy.md).
    """

    def __init__(
        self,
        accepted_domains: tuple[str, ...] = (),
        defaults: ActionSettings | None = None,
        domains: Mapping[str, ActionSettings] | None = None,
        users: Mapping[str, ActionSettings] | None = None,
        rules: tuple[Rule, ...] = (),
        smime: SmimeSettings | None = None,
        content: ContentSettings | None = None,
    ) -> None:
        self._accepted = DomainSet.parse(tuple(accepted_domains), "gateway.accepted_domains")
        self.accepted_domains: tuple[str, ...] = self._accepted.patterns
        self.defaults = defaults or ActionSettings()
        domains = domains or {}
        self._domain_keys = DomainSet.parse(tuple(domains), "policy.domains")
        self.domains: dict[str, ActionSettings] = dict(zip(self._domain_keys.patterns, domains.values(), strict=True))
        self.users: dict[str, ActionSettings] = {normalize(k): val for k, val in (users or {}).items()}
        self.rules = rules
        self.smime = smime or SmimeSettings()
        self.content = content or ContentSettings()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Policy:
        """The policy of a parsed settings file (``mailseal.config.load_settings()``); ConfigurationError when the
        `[policy]` table or `[gateway].accepted_domains` is invalid. Other `[gateway]` keys are not looked at."""
        settings = v.table(settings, "the settings file")
        policy = v.table(settings.get("policy", {}), "[policy]")
        v.check_keys(policy, POLICY_KEYS, "policy")
        gateway = v.table(settings.get("gateway", {}), "[gateway]")
        accepted: tuple[str, ...] = ()
        if "accepted_domains" in gateway:
            raw = gateway["accepted_domains"]
            accepted = () if raw == [] else v.string_list(raw, "gateway.accepted_domains")
        domains = {}
        for name, tbl in v.table(policy.get("domains", {}), "policy.domains").items():
            where = f'policy.domains."{name}"'
            v.check_keys(v.table(tbl, where), ACTION_KEYS, where)
            domains[name] = ActionSettings.parse(tbl, where)
        if len({d.lower().strip().rstrip(".") for d in domains}) != len(domains):
            raise ConfigurationError("policy.domains: the same domain is listed twice (domains ignore case)")
        users = {}
        for name, tbl in v.table(policy.get("users", {}), "policy.users").items():
            where = f'policy.users."{name}"'
            if "@" not in name or not domain_of(name):
                raise ConfigurationError(f'{where}: "{name}" is not an e-mail address')
            v.check_keys(v.table(tbl, where), ACTION_KEYS, where)
            users[name] = ActionSettings.parse(tbl, where)
        if len({normalize(u) for u in users}) != len(users):
            raise ConfigurationError("policy.users: the same address is listed twice (addresses ignore case)")
        return cls(
            accepted_domains=accepted,
            defaults=ActionSettings.parse(policy, "policy"),
            domains=domains,
            users=users,
            rules=parse_rules(policy["rules"]) if "rules" in policy else (),
            smime=SmimeSettings.parse(policy.get("smime", {})),
            content=ContentSettings.parse(policy.get("content", {})),
        )

    @property
    def settings(self) -> EffectiveSettings:
        """The global settings, defaults filled in (what applies where no domain, user or rule says otherwise)."""
        return Resolved.layered([("global", self.defaults, None)]).effective

    @property
    def uses_portal(self) -> bool:
        """Whether any setting (global, domain, user, rule) sends mail through the recipient portal."""
        tables = [self.defaults, *self.domains.values(), *self.users.values(), *(r.settings for r in self.rules)]
        return any(t.encrypt in (EncryptMode.PORTAL, EncryptMode.ENCRYPT_OR_PORTAL) for t in tables)

    @property
    def subject_tags(self) -> tuple[str, ...]:
        """Every subject tag configured anywhere (global, domains, users, rules): the gateway removes these from
        incoming subjects before it adds its own, so a sender cannot forge them."""
        tables = [self.defaults, *self.domains.values(), *self.users.values(), *(r.settings for r in self.rules)]
        tags = (getattr(t, f"subject_tag_{kind}") for t in tables for kind in ("encrypted", "signed", "failed"))
        return tuple(dict.fromkeys(tag for tag in tags if tag))

    def to_dict(self) -> dict[str, Any]:
        """The effective settings, defaults filled in: what `mailseal policy check` prints."""
        glob = Resolved.layered([("global", self.defaults, None)])
        return {
            "accepted_domains": list(self.accepted_domains),
            "global": glob.plain(),
            "domains": {name: s.to_dict() for name, s in self.domains.items()},
            "users": {name: s.to_dict() for name, s in self.users.items()},
            "rules": [r.to_dict() for r in self.rules],
            "smime": self.smime.to_dict(),
            "content": self.content.to_dict(),
        }

    @property
    def scans_content(self) -> bool:
        """Whether a rule has content conditions: only then does the gateway read the message's text."""
        return any(r.content is not None for r in self.rules)

    def inherited(self, entry: str) -> Resolved:
        """The settings of one `[policy.domains]` or `[policy.users]` entry after inheritance (global -> domain ->
        user; ``entry`` a domain pattern or an address), each with where its value comes from."""
        if "@" in entry:
            return Resolved.layered(self._layers(entry, entry))
        pattern = self._domain_keys.match(entry.removeprefix("*.")) if entry not in self.domains else entry
        layers: list[tuple[str, ActionSettings, frozenset[str] | None]] = [("global", self.defaults, None)]
        if pattern is not None and pattern in self.domains:
            layers.append((f"domain {pattern}", self.domains[pattern], None))
        return Resolved.layered(layers)

    def warnings(self) -> tuple[str, ...]:
        """Settings that are valid but probably not what the administrator meant."""
        out: list[str] = []
        if not self.accepted_domains:
            out.append("gateway.accepted_domains is empty: no address is internal, so every message is relay "
                       "and refused")
        for i, rule in enumerate(self.rules):
            if rule.unconditional:
                for later in self.rules[i + 1:]:
                    if rule.direction in ("any", later.direction):
                        out.append(f"rule {later.name} can never match: rule {rule.name} before it matches every "
                                   f"{'message' if rule.direction == 'any' else rule.direction + ' message'}")
                break
        return tuple(out)

    def is_internal(self, address: str) -> bool:
        """Whether the address's domain is an accepted domain (``*.example.org`` entries match subdomains)."""
        return self._accepted.match(domain_of(address)) is not None

    def direction(self, sender: str, recipient: str) -> Direction:
        inside_from, inside_to = self.is_internal(sender), self.is_internal(recipient)
        if inside_from:
            return Direction.INTERNAL if inside_to else Direction.OUTBOUND
        return Direction.INBOUND if inside_to else Direction.RELAY

    def decide(self, envelope: Envelope, message: MessageFacts, facts: Facts) -> Decision:
        """One RecipientDecision per envelope recipient, in order."""
        sender = normalize(envelope.mail_from)
        froms = tuple(normalize(a) for a in message.from_addresses)
        notes: list[str] = []
        # A bounce (null sender) is classified by its From address: a notification our own MTA sends out is
        # outbound, not relay. It is never signed (see _signer).
        party = sender
        if not sender:
            party = froms[0] if len(froms) == 1 else ""
            notes.append(f"null sender: direction taken from the From address {party or '(none)'}")
        signer = _SignerCheck(self, sender, froms, facts)
        header_rcpts = frozenset(normalize(a) for a in message.header_recipients)
        scan = ContentScan(message.text)
        if self.scans_content:
            notes.extend(message.text_notes)
            if message.text is None:
                notes.append("content rules not evaluated: the message text was not read")
        decisions = tuple(self._decide_one(rcpt, party, message, facts, signer, header_rcpts, scan)
                          for rcpt in envelope.recipients)
        return Decision(sender=sender, recipients=decisions, fork_bcc=self.smime.fork_bcc, notes=tuple(notes))

    def _layers(self, sender: str, recipient: str) -> list[tuple[str, ActionSettings, frozenset[str] | None]]:
        layers: list[tuple[str, ActionSettings, frozenset[str] | None]] = [("global", self.defaults, None)]
        for address, keys in ((sender, SENDER_KEYS), (recipient, _RECIPIENT_KEYS)):
            domain = self._domain_keys.match(domain_of(address))
            if domain is not None:
                layers.append((f"domain {domain}", self.domains[domain], keys))
            user = self.users.get(normalize(address))
            if user is not None:
                layers.append((f"user {normalize(address)}", user, keys))
        return layers

    def _decide_one(self, recipient: str, sender: str, message: MessageFacts, facts: Facts, signer: _SignerCheck,
                    header_rcpts: frozenset[str], scan: ContentScan) -> RecipientDecision:
        rcpt = recipient.strip().strip("<>").strip()
        direction = self.direction(sender, rcpt)
        bcc = normalize(rcpt) not in header_rcpts
        if direction is Direction.RELAY:
            return RecipientDecision(rcpt, direction, bcc=bcc, rule="relay",
                                     refuse=f"relaying denied: neither {sender or 'the sender'} nor {rcpt} is in "
                                            "an accepted domain")
        layers = self._layers(sender, rcpt)
        rule = next((r for r in self.rules if r.matches(direction, signer.sender, rcpt, message, scan)), None)
        notes: list[str] = []
        if rule is not None:
            layers.append((rule.label, rule.settings, None))
            if rule.content is not None:
                notes.append(scan.note(rule.name, rule.content))
        resolved = Resolved.layered(layers)
        relevant = INBOUND_KEYS if direction is Direction.INBOUND else OUTBOUND_KEYS
        decided_by = rule.label if rule is not None else max(
            (resolved.sources[k] for k in relevant), key=lambda s: _SPECIFICITY[s.split(" ", 1)[0]])
        decision = partial(RecipientDecision, rcpt, direction, bcc=bcc, sources=dict(resolved.sources),
                           settings=resolved.plain(),
                           subject_rewrite=rule.rewrite_subject(message.subject) if rule is not None else None)
        if rule is not None and rule.action is not Action.DELIVER:
            reason = rule.reason or f"{'refused' if rule.action is Action.REJECT else 'held'} by {rule.label}"
            return decision(rule=decided_by, refuse=reason if rule.action is Action.REJECT else None,
                            hold=reason if rule.action is Action.HOLD else None, notes=tuple(notes))
        if direction is Direction.INBOUND:
            opened = _inbound(rcpt, message, facts, resolved, notes)
            return decision(rule=decided_by, notes=tuple(notes), decrypt=opened.decrypt, verify=opened.verify,
                            strip_signature=opened.strip_signature, subject_tag=opened.subject_tag,
                            subject_tags=opened.subject_tags)
        sent = _outbound(rcpt, message, facts, resolved, signer, notes)
        if sent.decisive is not None and rule is None:
            # A refusal or hold is decided by the setting that demanded what could not be done.
            decided_by = resolved.sources[sent.decisive]
        return decision(rule=decided_by, notes=tuple(notes), sign=sent.sign, signer=sent.signer, encrypt=sent.encrypt,
                        portal=sent.portal, refuse=sent.refuse, hold=sent.hold)


class _SignerCheck:
    """The no-signing-oracle rule, evaluated once per message: the gateway signs only for the sender's own mail."""

    def __init__(self, policy: Policy, sender: str, froms: tuple[str, ...], facts: Facts) -> None:
        self.sender = sender
        self.address: str | None = None
        self.reason: str | None = None
        self.null = not sender
        if not sender:
            self.reason = "the null sender (a bounce or notification) is never signed"
        elif not policy.is_internal(sender):
            self.reason = f"the envelope sender {sender} is not in an accepted domain"
        elif not froms:
            self.reason = "the message has no From address"
        elif len(froms) > 1:
            self.reason = f"the From header holds {len(froms)} addresses; only mail from one author is signed"
        elif froms[0] != sender:
            # Signing whatever From an authenticated submitter writes would make the gateway a signing oracle.
            self.reason = f"the envelope sender {sender} differs from the From address {froms[0]}"
        else:
            self._facts = facts
            self._pending = True
            return
        self._pending = False

    def check(self) -> tuple[str | None, str | None]:
        """``(address to sign as, None)`` or ``(None, why not)``; the key store is asked at most once."""
        if self._pending:
            self._pending = False
            if self._facts.has_signing_key(self.sender):
                self.address = self.sender
            else:
                self.reason = f"no key for {self.sender}"
        return self.address, self.reason


@dataclass(frozen=True)
class _Outbound:
    """What policy grants one outbound or internal recipient; ``decisive`` names the setting that demanded what
    could not be done when the recipient is refused or held."""

    sign: bool = False
    signer: str | None = None
    encrypt: bool = False
    portal: bool = False
    refuse: str | None = None
    hold: str | None = None
    decisive: str | None = None


@dataclass(frozen=True)
class _Inbound:
    """What policy grants one inbound recipient."""

    decrypt: bool
    verify: bool
    strip_signature: bool
    subject_tags: SubjectTags
    subject_tag: str | None


def _outbound(rcpt: str, message: MessageFacts, facts: Facts, resolved: Resolved, signer: _SignerCheck,
              notes: list[str]) -> _Outbound:
    if message.encrypted:
        # Encrypted end to end by the sender's client: the gateway neither can nor should add anything.
        notes.append("the message is already encrypted by the sender's client: passed on unchanged")
        return _Outbound()
    sign_as: str | None = None
    sign_mode = resolved.sign
    if sign_mode is not SignMode.NEVER and message.signed:
        notes.append("the message is already signed by the sender's client: not signed again")
    elif sign_mode is not SignMode.NEVER:
        address, why_not = signer.check()
        if address is not None:
            sign_as = address
        elif sign_mode is SignMode.ALWAYS and not signer.null:
            return _Outbound(refuse=f"signing required but {why_not}", decisive="sign")
        else:
            notes.append(f"not signed: {why_not}")
    signed = _Outbound(sign=sign_as is not None, signer=sign_as)
    encrypt_mode = resolved.encrypt
    if encrypt_mode is EncryptMode.NEVER:
        return signed
    if encrypt_mode is EncryptMode.PORTAL:
        # The recipient reads the original in the portal; a signature the gateway makes goes on the notification.
        return dataclasses.replace(signed, portal=True)
    if facts.has_certificate(rcpt):
        return dataclasses.replace(signed, encrypt=True)
    if encrypt_mode is EncryptMode.ENCRYPT_OR_PORTAL:
        notes.append(f"no certificate for {rcpt}: through the portal")
        return dataclasses.replace(signed, portal=True)
    if encrypt_mode is EncryptMode.REQUIRE:
        reason = f"encryption required but no certificate for {rcpt}"
        if resolved.on_missing_certificate is MissingCertificate.HOLD:
            return _Outbound(hold=reason, decisive="encrypt")
        return _Outbound(refuse=reason, decisive="encrypt")
    notes.append(f"not encrypted: no certificate for {rcpt}")
    return signed


def _inbound(rcpt: str, message: MessageFacts, facts: Facts, resolved: Resolved, notes: list[str]) -> _Inbound:
    decrypt = False
    if message.encrypted and resolved.flag("decrypt_inbound"):
        decrypt = facts.has_decryption_key(rcpt)
        if not decrypt:
            notes.append(f"no decryption key for {rcpt}: delivered encrypted")
    # Only a signature the gateway can reach is verified: at the root, or inside what it decrypts.
    verify = resolved.flag("verify_inbound") and (message.signed or decrypt)
    strip = False
    if resolved.flag("strip_signatures") and (message.signed or decrypt):
        strip = verify
        if not verify:
            notes.append("strip_signatures needs verify_inbound: an unverified signature is left in place")
    tags = SubjectTags(resolved.text("subject_tag_encrypted"), resolved.text("subject_tag_signed"),
                       resolved.text("subject_tag_failed"))
    return _Inbound(decrypt=decrypt, verify=verify, strip_signature=strip, subject_tags=tags,
                    subject_tag=tags.for_outcome(encrypted=message.encrypted, signed=message.signed, failed=False))


__all__ = ["POLICY_KEYS", "Policy"]
