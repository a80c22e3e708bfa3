"""The verify page: upload or paste a message, see its signatures as the report (layers, coverage, signers, the
chain drawn), download the signer certificates and the .p7s. Auditors may verify: it reads, it changes nothing
(the POST carries a file; it is audited all the same)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ErrorCode, MailsealError, UsageError
from . import service_verify as service
from .context import Console, console
from .pages import render
from .report_render import render_report
from .sessions import Principal, user
from .tokens_verify import download_key, seal, unseal

router = APIRouter(include_in_schema=False)
DOWNLOAD = "/verify/download/"
#: The form's file field (optional: the message may be pasted instead).
UPLOAD = File(None)
MEDIA = {"cert": "application/x-pem-file", "p7s": "application/pkcs7-signature"}


def _page(request: Request, who: Principal, status: int = 200, **context: object) -> Response:
    return render(request, "verify/verify.html", who, status, max_mib=service.MAX_MESSAGE // (1024 * 1024),
                  **context)


def links(result: service.Verification, key: bytes, now: datetime) -> tuple[Callable[[str], str] | None, str | None]:
    """The report's download links: ``cert_url`` (None, so that each PEM is shown in place, when a certificate is
    too large to carry in a link) and ``signature_url``."""
    tokens = {fp: seal(key, "cert", der, now) for fp, der in result.certificates.items()}
    cert_url: Callable[[str], str] | None = None
    if tokens and all(tokens.values()):
        cert_url = lambda fp: DOWNLOAD + str(tokens.get(fp, ""))  # noqa: E731 - the renderer wants a callable
    signature = seal(key, "p7s", result.signature, now) if result.signature is not None else None
    return cert_url, DOWNLOAD + signature if signature else None


async def read_upload(file: UploadFile | None, pasted: str) -> tuple[bytes, str | None]:
    """The uploaded file's bytes (with its name), else the pasted text; ``UsageError`` past the size limit."""
    if file is not None and file.filename:
        data = await file.read(service.MAX_MESSAGE + 1)
        name: str | None = file.filename[:200]
    else:
        data, name = pasted.encode("utf-8"), None
    if len(data) > service.MAX_MESSAGE:
        raise UsageError(f"the message is larger than {service.MAX_MESSAGE // (1024 * 1024)} MiB: verify it with "
                         "`mailseal verify` instead")
    return data, name


@router.get("/verify")
def verify_page(request: Request, who: Principal = Depends(user)) -> Response:
    return _page(request, who)


@router.post("/verify")
async def verify_post(request: Request, file: UploadFile | None = UPLOAD, message: str = Form(""),
                      who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    raw, now = b"", app.now()
    try:
        raw, name = await read_upload(file, message)
        result = await run_in_threadpool(service.verify_message, app.store, raw, now,
                                           app.settings.limits)
    except MailsealError as exc:
        if raw and exc.code != ErrorCode.USAGE:
            await run_in_threadpool(service.record, app.store, who.actor, raw, f"unreadable ({exc.code})")
        return _page(request, who, 400, error=exc.message,
                     error_code=None if exc.code == ErrorCode.USAGE else str(exc.code))
    await run_in_threadpool(service.record, app.store, who.actor, raw, result.verdict)
    report = None
    if result.view is not None:
        cert_url, signature_url = links(result, download_key(app), now)
        report = render_report(result.view, cert_url=cert_url, signature_url=signature_url)
    shown = {"name": name, "encrypted_for": result.encrypted_for}
    return _page(request, who, result=shown, report=report)


@router.get(DOWNLOAD + "{token}")
def verify_download(token: str, who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    kind, data = unseal(download_key(app), token, app.now())
    if kind == "cert":
        body, digest = service.certificate_pem(data)
        name = f"certificate-{digest[:16]}.pem"
    else:
        body, name = data, "smime.p7s"
    return Response(body, media_type=MEDIA[kind], headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                          "Cache-Control": "no-store"})


__all__ = ["links", "read_upload", "router"]
