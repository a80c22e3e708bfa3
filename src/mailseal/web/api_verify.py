"""``POST /api/v1/verify``: the verify page's verification as JSON (the page's view of the Report, the verdict).
The body is the message itself (``message/rfc822`` or ``application/octet-stream``) or a form (``multipart/form-data``
with a ``file``). A read-only action: auditors and read-scoped tokens may verify; each verification is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from ..errors import ErrorCode, MailsealError
from . import service_verify as service
from .context import Console, console
from .problems import MEDIA_TYPE, Problem
from .sessions import API_PREFIX, Principal, user

router = APIRouter(prefix=API_PREFIX)
RAW_TYPES = ("message/rfc822", "application/octet-stream")
FORM_TYPE = "multipart/form-data"
TOO_LARGE = f"the message is larger than {service.MAX_MESSAGE // (1024 * 1024)} MiB"


class VerifyResult(BaseModel):
    verdict: str = Field(description="the Report's status (valid, invalid-signature, not-signed, ...) or encrypted")
    word: str = Field(description="the verdict as the page words it")
    tone: str = Field(description="good | warn | bad | neutral")
    headline: str
    message_id: str | None
    size: int
    encrypted_for: list[str] = Field(description="an encrypted message (not opened: the console holds no key "
                                                 "store passphrase): the certificates it is encrypted for")
    view: dict[str, Any] | None = Field(description="the verify page's view: layers outermost first, what each "
                                                    "signature covers, signers, chains; null when encrypted")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": Problem.model_json_schema()}}}


BINARY = {"schema": {"type": "string", "format": "binary"}}
BODY = {"requestBody": {"required": True, "content": {
    "message/rfc822": BINARY, "application/octet-stream": BINARY,
    FORM_TYPE: {"schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


async def _raw_body(request: Request) -> bytes:
    size = int(request.headers.get("content-length") or 0)
    if size > service.MAX_MESSAGE:
        raise HTTPException(413, TOO_LARGE)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > service.MAX_MESSAGE:
            raise HTTPException(413, TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request) -> bytes:
    """The message: the body itself, or the form's ``file`` (or ``message`` text)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in RAW_TYPES:
        return await _raw_body(request)
    if kind == FORM_TYPE:
        if int(request.headers.get("content-length") or 0) > service.MAX_MESSAGE + 64 * 1024:
            raise HTTPException(413, TOO_LARGE)
        form = await request.form()
        given = form.get("file")
        if isinstance(given, UploadFile):
            data = await given.read(service.MAX_MESSAGE + 1)
        else:
            text = form.get("message")
            data = text.encode("utf-8") if isinstance(text, str) else b""
        if len(data) > service.MAX_MESSAGE:
            raise HTTPException(413, TOO_LARGE)
        return data
    raise HTTPException(415, f"send the message as {', '.join(RAW_TYPES)} or {FORM_TYPE}, not {kind or 'nothing'}")


@router.post("/verify", response_model=VerifyResult, summary="Verify a message's S/MIME signatures",
             openapi_extra=BODY, responses={413: _problem("The message is larger than 25 MiB"),
                                            415: _problem("The body is not a message nor a form")})
async def post_verify(request: Request, who: Principal = Depends(user),
                      app: Console = Depends(console)) -> dict[str, Any]:
    raw = await read_body(request)
    try:
        result = await run_in_threadpool(service.verify_message, app.store, raw, app.now(),
                                           app.settings.limits)
    except MailsealError as exc:
        if raw.strip() and exc.code != ErrorCode.USAGE:
            await run_in_threadpool(service.record, app.store, who.actor, raw, f"unreadable ({exc.code})")
        raise
    await run_in_threadpool(service.record, app.store, who.actor, raw, result.verdict)
    return result.to_dict()


__all__ = ["VerifyResult", "read_body", "router"]
