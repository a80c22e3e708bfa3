"""One message through the policy: the outgoing copies it becomes. Synchronous and socket-free: the service runs
it in a worker thread, the tests call it directly.

Outbound (and internal) copies are signed with the sender's key and/or encrypted to the recipients'
certificates; inbound copies are decrypted with the recipients' keys, verified, stamped with
Authentication-Results and tagged. Refusals raise ``PolicyRefusal`` (the service answers 5xx); a condition
that may pass raises ``TemporaryError`` (code ``temporary-failure``: 4xx); anything unexpected propagates (the
service answers 4xx too and the sender retries).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import BinaryIO, cast

from .. import api
from ..cms.identity import Identity
from ..errors import (
    DecryptionError,
    MailsealError,
    MalformedInputError,
    NoMatchingRecipientError,
    NotEncryptedError,
    PolicyRefusal,
    RecipientError,
    TemporaryError,
    TimeLimitExceededError,
)
from ..limits import DEFAULT_LIMITS, Limits
from ..mime.entity import Entity
from ..mime.headerset import compared_with, decrypted_header_set, restored_lines
from ..mime.headerset import note as header_note
from ..mime.legacydisplay import hidden_parts, unmarked
from ..mime.opening import classify, unauthenticated_encryption
from ..mime.protection import is_signed, signed_layer_hp
from ..mime.report import Report
from ..mime.sender import from_addresses
from ..pki.fetching import FetchPolicy
from ..pki.validation import ValidationContext
from ..policy import Decision, Envelope, MessageFacts, Policy, RecipientGroup
from ..policy.content import message_text
from ..store.capabilities import choose_algorithms
from ..store.portal import deposit_digest
from ..streamio import CHUNK, JoinedFile, Region, region_of
from . import portal
from .dsn import refusal_notice
from .held import HeldMessages
from .outcome import Outcome, Outgoing, Processed, Step
from .resources import Resources, StoreFacts
from .smtpsafe import normalise
from .stamping import authentication_results, drop_fields, rewrite_subject, tag_subject, without_our_stamps

log = logging.getLogger("mailseal.gateway")


def _address_list(values: Sequence[str]) -> frozenset[str]:
    import email.utils

    return frozenset(addr.lower() for _, addr in email.utils.getaddresses(list(values)) if addr)


def message_facts(entity: Entity, size: int) -> MessageFacts:
    kind = classify(entity)
    signed = kind == "signed" or (kind == "pkcs7" and "signed-data" in entity.content_type()[1].get("smime-type", ""))
    encrypted = kind == "pkcs7" and not signed
    headers = tuple(
        (line.partition(b":")[0].decode("ascii", "replace").strip(),
         line.partition(b":")[2].decode("utf-8", "replace").replace("\r\n", "").replace("\n", "").strip())
        for line in entity.header_lines
    )
    return MessageFacts(
        from_addresses=tuple(a.lower() for a in from_addresses(entity)),
        subject=entity.field("Subject") or "",
        headers=headers,
        size=size,
        signed=signed,
        encrypted=encrypted,
        header_recipients=_address_list(entity.fields("To") + entity.fields("Cc")),
    )


WORKING_IN_MEMORY = 1 << 20
INTEGRITY_NOT_PROTECTED = ("integrity not protected: CBC encryption (EnvelopedData) without a valid signature "
                           "inside, so a change to the ciphertext would not be detected")


class _AssumeCertificates:
    """The store's facts, except that the released recipients count as having a certificate: the policy then
    decides for them as for any encryptable recipient (sign or not, ...), and ``_unencrypted`` takes the
    encryption away again where no certificate really exists."""

    def __init__(self, facts: StoreFacts, released: Collection[str]) -> None:
        self.facts = facts
        self.released = {r.lower() for r in released}

    def has_signing_key(self, address: str) -> bool:
        return self.facts.has_signing_key(address)

    def has_decryption_key(self, address: str) -> bool:
        return self.facts.has_decryption_key(address)

    def has_certificate(self, address: str) -> bool:
        return address.lower() in self.released or self.facts.has_certificate(address)


def _unencrypted(decision: Decision, facts: StoreFacts, released: Collection[str]) -> Decision:
    wanted = {r.lower() for r in released}
    changed = tuple(
        dataclasses.replace(d, encrypt=False,
                            notes=(*d.notes, "released from hold by an administrator: sent without encryption"))
        if d.encrypt and d.recipient.lower() in wanted and not facts.has_certificate(d.recipient) else d
        for d in decision.recipients
    )
    return dataclasses.replace(decision, recipients=changed)


class Pipeline:
    def __init__(self, policy: Policy, resources: Resources, *, hostname: str, spool_dir: Path,
                 held_dir: Path, harvest: bool = True, limits: Limits = DEFAULT_LIMITS) -> None:
        self.policy = policy
        self.limits = limits
        self.resources = resources
        self.hostname = hostname
        self.spool_dir = spool_dir
        self.held = HeldMessages(held_dir)
        self.harvest = harvest

    def _temp(self) -> BinaryIO:
        """A working file: in memory up to WORKING_IN_MEMORY, then in the spool directory."""
        return cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=WORKING_IN_MEMORY, dir=str(self.spool_dir)))

    def process(self, mail_from: str, recipients: Sequence[str], data: BinaryIO, size: int,
                *, may_sign: bool, digest: str = "", release_unencrypted: Collection[str] = (),
                may_notify: bool = False) -> Processed:
        """The copies to deliver. ``release_unencrypted``: recipients an administrator released from a hold for
        want of a certificate, who get the message without encryption (signed if the policy signs).
        ``may_notify``: the sender is one of ours (trusted origin or authenticated), so recipients the policy
        refuses while others are delivered are reported in a DSN to the sender instead of refusing the whole
        message at SMTP."""
        # limits.message_seconds: checked between the steps here, and inside them by every parser given these
        # limits (at each part, signer, recipient info and layer), so one pathological step stops in time too
        limits = self.limits.started()
        region = Region(data, 0, size)
        try:
            entity = Entity.from_region(region, limits)
        except MalformedInputError as exc:  # the sender's message itself is broken: 5xx, retrying cannot help
            raise PolicyRefusal(f"the message header cannot be read: {exc.message}") from None
        facts = message_facts(entity, size)
        if self.policy.scans_content:
            # Read only when a rule looks at content; the text stays in memory for the decision and is never
            # logged (decisions name the rule and a count).
            text, text_notes = message_text(entity, self.policy.content)
            facts = dataclasses.replace(facts, text=text, text_notes=text_notes)
        message_id = (entity.field("Message-ID") or "").strip()
        store_facts = StoreFacts(self.resources, may_sign)
        policy_facts = _AssumeCertificates(store_facts, release_unencrypted) if release_unencrypted else store_facts
        decision = self.policy.decide(Envelope(mail_from, tuple(recipients)), facts, policy_facts)
        refused = decision.refused()
        notice: Outgoing | None = None
        if refused:
            reasons = "; ".join(f"{r.recipient}: {r.refuse}" for r in refused)
            if not (may_notify and mail_from and len(refused) < len(decision.recipients)):
                raise PolicyRefusal(f"refused by policy ({reasons})")
            notice = self._notice(entity, mail_from, [(r.recipient, r.refuse or "") for r in refused],
                                  len(decision.recipients) - len(refused))
        if release_unencrypted:
            decision = _unencrypted(decision, store_facts, release_unencrypted)
        held = tuple(r.recipient for r in decision.held())
        if held:
            self.held.hold(region, digest=digest or _sha256(region), mail_from=mail_from,
                           reasons={r.recipient: r.hold or "" for r in decision.held()},
                           message_id=message_id, may_sign=may_sign)
        outgoing: list[Outgoing] = [notice] if notice is not None else []
        try:
            for group in decision.groups():
                limits.check_time()
                if group.portal:
                    digest = digest or _sha256(region)
                    outgoing.extend(self._portal(region, entity, facts, mail_from, group, digest, trusted=may_sign))
                else:
                    outgoing.append(self._copy(region, entity, facts, mail_from, group, limits))
            limits.check_time()
        except BaseException:
            for out in outgoing:
                out.close()
            raise
        return Processed(tuple(outgoing), held, decision, message_id)

    def _notice(self, entity: Entity, sender: str, refused: list[tuple[str, str]], delivered: int) -> Outgoing:
        data = refusal_notice(hostname=self.hostname, sender=sender, refused=refused,
                              header_lines=entity.header_lines, delivered=delivered)
        out = self._temp()
        out.write(data)
        out.seek(0)
        return Outgoing((sender,), out, Outcome().then(Step.REFUSAL_NOTICE, refused=len(refused)), sender="")

    def _portal(self, region: Region, entity: Entity, facts: MessageFacts, mail_from: str,
                group: RecipientGroup, received: str, *, trusted: bool = False) -> list[Outgoing]:
        """The message deposited sealed in the portal (committed before any notification is sent), then one
        notification per recipient, signed when the policy signs (docs/portal.md). A retried transaction
        (``received``: the SHA-256 of the received message) finds its first deposit, and only recipients whose
        notification the next hop has not accepted yet are sent one (with a new link). ``trusted``: the sender is
        ours (trusted network or authenticated), whose ``X-Mailseal-Portal-Password`` chooses the password."""
        settings = self.resources.portal_settings
        lines = drop_fields(entity.header_lines, portal.DROPPED_FIELDS)
        head = b"".join(line + b"\r\n" for line in lines) + b"\r\n"
        message = head + entity.region.read()
        sender = mail_from.lower() or (facts.from_addresses[0] if facts.from_addresses else "")
        key = deposit_digest(received, sender, group.recipients)
        chosen = (entity.field(portal.PASSWORD_FIELD) or "").strip() if trusted else ""
        deposited, brand = portal.deposit(self.resources.portal(), settings, message, sender, group.recipients,
                                          [d.recipient for d in group if d.bcc], digest=key, subject=facts.subject,
                                          chosen_password=chosen or None, hostname=self.hostname)
        done = Outcome().then(Step.PORTAL, portal_message=deposited.id)
        from_header = entity.field("From") or sender
        # Signed with the sender's key when the policy signs their mail, else with the portal's own identity
        # (``[portal] sender``) when the key store holds one: the notification then comes from that address.
        signer = group.signer if group.sign and group.signer else None
        from_address = None
        if signer is None and sender:
            candidate = settings.sender_for(sender)
            if self.resources.signing_identity(candidate) is not None:
                signer = from_address = candidate
        out: list[Outgoing] = []
        try:
            for rcpt in group.recipients:
                if rcpt.strip().lower() not in deposited.tokens:  # a retry: this one's notification was accepted
                    continue
                data = portal.notification(brand, settings, recipient=rcpt, from_header=from_header, sender=sender,
                                           subject=facts.subject, token=deposited.tokens[rcpt.strip().lower()],
                                           expires=deposited.expires, hostname=self.hostname,
                                           from_address=from_address, proof=deposited.proof)
                current = self._temp()
                current.write(data)
                current.seek(0)
                noted = done
                if signer is not None:
                    current, noted = self._sign(current, signer, done)
                out.append(Outgoing((rcpt,), current, noted))
        except BaseException:
            for o in out:
                o.close()
            raise
        return out

    # -- one copy -----------------------------------------------------------------------------------------
    def _copy(self, region: Region, entity: Entity, facts: MessageFacts, mail_from: str,
              group: RecipientGroup, limits: Limits) -> Outgoing:
        """``limits``: the message's, with its deadline (``Limits.started``)."""
        if group.direction == "inbound":
            return self._inbound(region, entity, facts, group, limits)
        return self._outbound(entity, facts, mail_from, group, limits)

    def _unsigned(self, current: BinaryIO, done: Outcome, limits: Limits) -> tuple[BinaryIO, Outcome]:
        """The message with its signature layers removed (the innermost content, outer fields merged in), with
        CRLF line ends only; as it was when SMTP could not carry the unwrapped content."""
        current.seek(0)
        opened = api.open(current, context=self.resources.context, limits=limits)
        out = self._temp()
        opened.write_message(out)
        wire, done = self._wire_safe(out, done)
        if wire is None:
            current.seek(0)
            return current, done.noting("signature not stripped: the signed content cannot be sent over SMTP as it "
                                        "is")
        current.close()
        return wire, done.then(Step.SIGNATURE_STRIPPED)

    def _wire_safe(self, produced: BinaryIO, done: Outcome) -> tuple[BinaryIO | None, Outcome]:
        """Text the gateway produced, made safe for SMTP (smtpsafe.normalise); None (and ``produced`` closed)
        when it holds what SMTP cannot carry."""
        out = self._temp()
        check = normalise(produced, out)
        produced.close()
        if check.problem is not None:
            out.close()
            log.info("produced content not sent: it %s", check.problem)
            return None, done
        if check.normalised:
            done = done.then(Step.LINE_ENDS_NORMALISED)
            if check.note:
                done = done.noting(check.note)
        out.seek(0)
        return out, done

    @staticmethod
    def _edited(entity: Entity, lines: list[bytes], body: Sequence[bytes | Region] | None = None) -> BinaryIO:
        """The entity with a new header (and ``body`` in place of its own), as a read-only view (nothing copied):
        what the next stage reads. Never delivered as it is: the relay reads copies in threads, and a view shares
        the received message's file."""
        return cast(BinaryIO, JoinedFile([b"".join(line + b"\r\n" for line in lines) + b"\r\n",
                                          *(body if body is not None else [entity.region])]))

    def _written(self, source: BinaryIO) -> BinaryIO:
        """``source`` written to a working file of its own (closed: it was a view or a file of ours)."""
        out = self._temp()
        source.seek(0)
        shutil.copyfileobj(source, out, CHUNK)
        source.close()
        out.seek(0)
        return out

    def _outbound(self, entity: Entity, facts: MessageFacts, mail_from: str, group: RecipientGroup,
                  limits: Limits) -> Outgoing:
        smime = self.policy.smime
        done = Outcome()
        # our stamps and tags are ours to write: whatever arrived (forged from outside, or forwarded) goes
        lines = without_our_stamps(drop_fields(entity.header_lines, ["Bcc"]), self.hostname,
                                   self.policy.subject_tags)
        if group.subject_rewrite is not None:
            lines = rewrite_subject(lines, group.subject_rewrite)
            done = done.then(Step.SUBJECT_TRIGGER_REMOVED)
        current = self._edited(entity, lines)
        if group.strip_signature and facts.signed:
            current, done = self._unsigned(current, done, limits)
        sender = group.signer or (facts.from_addresses[0] if facts.from_addresses else mail_from.lower())
        try:
            if group.sign:
                current, done = self._sign(current, sender, done, to_be_encrypted=group.encrypt)
            if group.encrypt:
                current, done = self._encrypt(current, sender, group.recipients, done)
                if group.sign and smime.triple_wrap:
                    current, done = self._sign(current, sender, done)
        except MalformedInputError as exc:  # the sender's message itself is broken: retrying cannot help
            current.close()
            raise PolicyRefusal(f"the message cannot be signed or encrypted: {exc.message}") from None
        if isinstance(current, JoinedFile):  # nothing was signed, encrypted or stripped: the edited message
            current = self._written(current)
        return Outgoing(group.recipients, current, done)

    def _sign(self, current: BinaryIO, sender: str, done: Outcome, to_be_encrypted: bool = False
              ) -> tuple[BinaryIO, Outcome]:
        smime = self.policy.smime
        # obscure_subject: a message encrypted next carries its protected fields in the signed layer, hp="cipher"
        obscure = smime.obscure_subject and to_be_encrypted
        identity = self.resources.signing_identity(sender)
        if identity is None:  # the policy saw a key a moment ago: removed since; retry later
            raise TemporaryError(f"the signing key of {sender} is no longer available")
        if not smime.include_root:  # OWAIncludeCertificateChainWithoutRootCertificate
            identity = Identity(identity.private_key, identity.certificate,
                                tuple(c for c in identity.chain if c.subject != c.issuer))
        out = self._temp()
        # copy_recipient_headers: RFC 9788 header protection in the signed part (hp="clear": the copies are
        # covered by the signature, and legacy clients still see the ordinary header).
        # The From check is the policy's (_SignerCheck: one From address, the envelope sender's, whose signing key
        # is filed under that address, so one of the certificate's): signing was decided on it, and a second
        # check here could only turn a decided message into a retry loop.
        api.sign(current, identity, opaque=not smime.clear_signed, digest=smime.signing_algorithm,
                 pss=smime.rsa_pss, include_certs=True, include_chain=smime.include_chain,
                 include_capabilities=smime.include_capabilities,
                 protect_headers=smime.copy_recipient_headers or obscure, to_be_encrypted=obscure,
                 allow_from_mismatch=True, out=out)
        current.close()
        out.seek(0)
        return out, done.then(Step.SIGNED, signer=sender, digest=smime.signing_algorithm)

    def _encrypt(self, current: BinaryIO, sender: str, rcpts: Sequence[str], done: Outcome
                 ) -> tuple[BinaryIO, Outcome]:
        smime = self.policy.smime
        resolved = []
        for address in rcpts:
            found = self.resources.recipient(address)
            if found is None:
                raise TemporaryError(f"the certificate of {address} is no longer available")
            resolved.append(found)
        cipher, transport = choose_algorithms([r.capabilities for r in resolved], default=smime.encryption_algorithm,
                                              floor=smime.encryption_floor)
        certs = [c for r in resolved for c in r.all_certificates]
        own = self.resources.encryption_certificate_of_sender(sender) if smime.encrypt_to_sender else None
        out = self._temp()
        # obscure_subject: RFC 9788 hcp_baseline, unless the message came signed without header protection (its
        # real Subject could then travel nowhere: it is left as it is)
        obscure = smime.obscure_subject and not self._signed_without_protection(current)
        try:
            api.encrypt(current, certs, cipher=cipher, key_transport=transport,
                        sender=own, context=self._send_context(), protect_headers=obscure, out=out)
        except RecipientError as exc:  # revoked, untrusted (with check_crl_on_send) or no longer suitable
            out.close()
            raise PolicyRefusal(f"encryption refused: {exc.message}") from None
        current.close()
        out.seek(0)
        return out, done.then(Step.ENCRYPTED, cipher=cipher, key_transport=transport,
                              encrypted_for=len(certs) + (own is not None), subject_obscured=obscure)

    @staticmethod
    def _signed_without_protection(current: BinaryIO) -> bool:
        """Signed (by the sender's client) without RFC 9788 header protection."""
        current.seek(0)
        try:
            entity = Entity.from_region(region_of(current))
            return is_signed(entity) and signed_layer_hp(entity) is None
        finally:
            current.seek(0)  # the encryption reads the message from where the file stands

    def _send_context(self) -> ValidationContext | None:
        """OWACheckCRLOnSend: recipients' paths validated with revocation fetched (soft-fail: an unreachable CRL
        does not stop mail, a revoked certificate does). Off: profile and validity only."""
        smime = self.policy.smime
        if not smime.check_crl_on_send:
            return None
        return dataclasses.replace(self.resources.context, revocation_mode="soft-fail", allow_fetching=True,
                                   fetch_policy=FetchPolicy(timeout=smime.crl_timeout_seconds))

    def _inbound(self, region: Region, entity: Entity, facts: MessageFacts, group: RecipientGroup,
                 limits: Limits) -> Outgoing:
        done = Outcome()
        current = cast(BinaryIO, JoinedFile([region]))  # read in place: the one copy written is the delivered one
        unauthenticated = False
        if group.decrypt and facts.encrypted:
            unauthenticated = unauthenticated_encryption(entity)
            current, done = self._decrypt(current, group.recipients, done, limits)
        report: Report | None = None
        if group.verify:
            if facts.encrypted and not done.decrypted:
                done = done.noting("encrypted: a signature inside was not checked")
            else:
                report, done = self._verify(current, facts, done, limits)
            if report is not None and report.headers is not None and done.decrypted:
                # the decrypted copy's header holds the protected fields: compare them with what came outside
                report = dataclasses.replace(report, headers=compared_with(entity, report.headers))
        if unauthenticated and done.decrypted and not (report is not None and report.signed
                                                       and all(s.intact for s in report.signers)):
            # EFAIL: CBC ciphertext can be changed undetected (CBC gadgets); only a signature inside would tell
            done = done.noting(INTEGRITY_NOT_PROTECTED)
        unsigned = not report.signed if report is not None else not (facts.signed or facts.encrypted)
        if unsigned and facts.from_addresses:
            done = self._stripped(facts.from_addresses[0], done)
        if report is not None and report.signed and group.strip_signature:
            current, done = self._unsigned(current, done, limits)
        result, lines, body = self._restamped(current, group, report, done, entity)
        out = self._written(self._edited(result, lines, body))
        current.close()
        return Outgoing(group.recipients, out, done)

    def _restamped(self, current: BinaryIO, group: RecipientGroup, report: Report | None, done: Outcome,
                   outer: Entity | None = None) -> tuple[Entity, list[bytes], list[bytes | Region] | None]:
        """The delivered message, its new header (our old stamps and tags out, the new ones in) and, when a legacy
        display element is hidden, its new body."""
        signed = report is not None and report.signed
        # the tag is chosen from what opening found (group.subject_tag is only the policy's forecast)
        tag = group.subject_tags.for_outcome(encrypted=bool(done.decrypted), signed=bool(done.signature_valid),
                                             failed=done.decrypted is False or (signed and not done.signature_valid))
        current.seek(0)
        result = Entity.from_region(region_of(current))
        lines = without_our_stamps(result.header_lines, self.hostname, self.policy.subject_tags)
        headers = None
        body: list[bytes | Region] | None = None
        shown = report.headers if report is not None and report.layers else None
        if shown is None and done.decrypted and outer is not None:
            shown = decrypted_header_set(outer, result)
            if shown.hides_legacy_display:
                # RFC 9788 §4.5.3: the delivered copy shows the protected fields in its header, so the legacy
                # display element repeating them is left out (only in a copy no signature covers any more)
                body = hidden_parts(result.region, shown.legacy_elements)
                if any(e.at_root for e in shown.legacy_elements):
                    lines = [unmarked(ln) for ln in lines]
        if shown is not None:
            # RFC 9788 §4: the delivered copy shows the protected fields; those changed outside are put back
            lines = restored_lines(lines, shown)
            headers = header_note(shown)
        wants_stamp = group.verify or bool(group.decisions[0].settings.get("verify_inbound"))
        if wants_stamp or done.notes:
            error = f"{done.verify_error.value}: {done.verify_message}" if done.verify_error is not None else None
            stamp = authentication_results(self.hostname, report, note="; ".join(done.notes) or None, error=error,
                                           headers=headers)
            lines = [stamp.rstrip(b"\r\n"), *lines]
        if tag:
            lines = tag_subject(lines, tag)
        return result, lines, body

    def _decrypt(self, current: BinaryIO, rcpts: Sequence[str], done: Outcome,
                 limits: Limits) -> tuple[BinaryIO, Outcome]:
        failed = done.then(Step.DECRYPT_FAILED, decrypted=False)
        identities = [i for address in rcpts for i in self.resources.decryption_identities(address)]
        for identity in identities:
            out = self._temp()
            try:
                api.decrypt(current, identity, out=out, limits=limits)
            except TimeLimitExceededError:  # limits.message_seconds: the whole message is deferred (451)
                out.close()
                raise
            except (NoMatchingRecipientError, DecryptionError, NotEncryptedError):
                out.close()
                current.seek(0)
                continue
            except MalformedInputError as exc:  # broken on the way: delivered as it came, with the reason
                out.close()
                current.seek(0)
                return current, failed.noting(f"not decrypted: {exc.code.value}: {exc.message}")
            wire, done = self._wire_safe(out, done.then(Step.DECRYPTED, decrypted=True))
            if wire is None:  # delivered encrypted as it came: the recipient's own client can still open it
                current.seek(0)
                return current, failed.noting("not decrypted: the decrypted content cannot be sent over SMTP (NUL "
                                              "bytes or lines over 998 octets)")
            current.close()
            return wire, done
        return current, failed.noting("not decrypted: no key held for this message's recipients")

    def _verify(self, current: BinaryIO, facts: MessageFacts, done: Outcome,
                limits: Limits) -> tuple[Report | None, Outcome]:
        current.seek(0)
        entity = Entity.from_region(region_of(current), limits)
        if classify(entity) is None:
            return Report(), done
        try:
            current.seek(0)
            report = api.verify(current, self.resources.context, limits=limits)
        except (TemporaryError, TimeLimitExceededError):  # e.g. the store did not answer, or message_seconds:
            raise  # 4xx, not a stamp saying the signature failed
        except MailsealError as exc:
            return None, dataclasses.replace(done, verify_error=exc.code, verify_message=exc.message)
        finally:
            current.seek(0)
        if report.signed:
            done = done.then(Step.VERIFIED, signature=report.status, signature_valid=report.valid)
        else:
            done = dataclasses.replace(done, signature=report.status)
        if self.harvest and report.signed and facts.from_addresses:
            done = self._harvest(report, facts.from_addresses[0], done)
        return report, done

    def _stripped(self, from_address: str, done: Outcome) -> Outcome:
        """An unsigned message from a sender whose mail came signed before: said in the stamp (stripping)."""
        from ..store.harvesting import signed_before

        since = signed_before(self.resources.store, from_address)
        if since is None:
            return done
        return done.noting(f"not signed, but mail from {from_address} was signed before (last "
                           f"{since:%Y-%m-%d}): the signature may have been stripped")

    def _harvest(self, report: Report, from_address: str, done: Outcome) -> Outcome:
        from ..store.harvesting import harvest

        try:
            result = harvest(report, from_address, self.resources.store)
        except MailsealError as exc:
            return dataclasses.replace(done, harvest_error=exc.code)
        if result.added or result.capabilities_learned:
            self.resources.forget()
        return dataclasses.replace(done, harvested=len(result.added))


def _sha256(region: Region) -> str:
    """The message's digest, read in chunks (never the whole message in memory)."""
    digest = hashlib.sha256()
    for chunk in region.chunks():
        digest.update(chunk)
    return digest.hexdigest()


__all__ = ["Pipeline", "message_facts"]
