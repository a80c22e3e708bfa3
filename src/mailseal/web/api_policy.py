"""/api/v1/policy: the policy in effect with where each value comes from, the tester (what `mailseal policy
explain --json` answers; read-only, so an auditor and a read token may use it) and replacing the stored policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..policy.explain import Example
from . import service_policy
from .context import Console, console
from .sessions import API_PREFIX, Principal, recently_authenticated, user

router = APIRouter(prefix=API_PREFIX)


class SettingValue(BaseModel):
    value: str | bool | None
    source: str = Field(description="where the value comes from: default, global, domain D, user A")


class PolicyDocument(BaseModel):
    source: str = Field(description='"the settings file" or "the store (version N)"')
    version: int | None = Field(description="the stored policy's version; null: the settings file's applies")
    accepted_domains: list[str]
    global_: dict[str, SettingValue] = Field(alias="global")
    domains: dict[str, dict[str, SettingValue]]
    users: dict[str, dict[str, SettingValue]]
    rules: list[dict[str, Any]]
    smime: dict[str, Any]
    warnings: list[str]
    policy: dict[str, Any] = Field(description="the [policy] table in effect, as written: what PUT replaces")


class TestMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: str = Field(alias="from", max_length=320, description='the envelope sender; "" or "<>": the null sender')
    to: list[str] = Field(min_length=1, max_length=100, description="at least one (Cc and Bcc add more)")
    cc: list[str] = Field(default=[], max_length=100)
    bcc: list[str] = Field(default=[], max_length=100)
    header_from: list[str] = Field(default=[], max_length=10,
                                   description="the From header's addresses when they differ from the sender")
    subject: str = Field(default="", max_length=998)
    headers: list[Annotated[str, StringConstraints(pattern=r"^[!-9;-~]+:.*$", max_length=998)]] = Field(
        default=[], max_length=50, description="more header fields, 'Name: value'")
    size: str = Field(default="1K", pattern=r"^[0-9]{1,12}[KMG]?$", description='bytes, or with K, M or G ("10M")')
    signed: bool = False
    encrypted: bool = False
    assume_keys: list[str] = Field(default=[], max_length=100)
    assume_certs: list[str] = Field(default=[], max_length=100)
    text: str | None = Field(default=None, max_length=1 << 20,
                             description="a sample of the message's text for rules with content conditions; "
                                         "null: content rules are not evaluated")

    def example(self) -> Example:
        return Example(self.sender, to=tuple(self.to), cc=tuple(self.cc), bcc=tuple(self.bcc),
                       header_from=tuple(self.header_from), subject=self.subject, headers=tuple(self.headers),
                       size=self.size, signed=self.signed, encrypted=self.encrypted,
                       assume_keys=tuple(self.assume_keys), assume_certs=tuple(self.assume_certs), text=self.text)


class RecipientOutcome(BaseModel):
    recipient: str
    direction: str
    action: str
    sign: bool
    signer: str | None
    encrypt: bool
    portal: bool = Field(False, description="through the recipient portal instead of S/MIME (docs/portal.md)")
    decrypt: bool
    verify: bool
    strip_signature: bool
    subject_tag: str | None
    subject_tags: dict[str, str | None]
    subject_rewrite: str | None
    refuse: str | None
    hold: str | None
    bcc: bool
    rule: str = Field(description="what decided: rule NAME, user A, domain D, global, default or relay")
    settings: dict[str, Any]
    sources: dict[str, str]
    notes: list[str]


class Group(BaseModel):
    recipients: list[str]
    sign: bool
    signer: str | None
    encrypt: bool
    portal: bool = False
    decrypt: bool
    verify: bool
    strip_signature: bool
    subject_tag: str | None
    subject_rewrite: str | None
    bcc: bool


class TestResult(BaseModel):
    sender: str
    recipients: list[RecipientOutcome]
    groups: list[Group]
    refused: list[str]
    held: list[str]
    notes: list[str]
    facts: str
    post_quantum: str = Field(description="[policy.smime] post_quantum: hybrid, prefer_pq or require_pq (docs/pq.md)")


class NewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: dict[str, Any] = Field(description="the whole [policy] table (global keys, smime, domains, users, "
                                               "rules), as in the settings file")
    version: int | None = Field(None, ge=0, description="the version this change is based on (0: none stored); "
                                                        "given, the save is refused when another came in between")


class Saved(BaseModel):
    version: int
    source: str
    note: str


@router.get("/policy", response_model=PolicyDocument, summary="The policy in effect, each value with its source")
def get_policy(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_policy.view(app.store).to_dict()


@router.post("/policy/test", response_model=TestResult,
             summary="What would happen to a message (read-only: what `mailseal policy explain --json` says)")
def post_policy_test(body: TestMessage, who: Principal = Depends(user),
                     app: Console = Depends(console)) -> dict[str, Any]:
    return service_policy.test(app.store, body.example()).to_dict()


@router.put("/policy", response_model=Saved, summary="Replace the stored policy (checked first; audited)")
def put_policy(body: NewPolicy, who: Principal = Depends(recently_authenticated),
               app: Console = Depends(console)) -> dict[str, Any]:
    saved = service_policy.save(app.store, body.policy, who.actor, body.version)
    return {"version": saved.version, "source": f"the store (version {saved.version})",
            "note": service_policy.RELOAD_NOTE}


__all__ = ["router"]
