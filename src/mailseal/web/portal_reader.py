"""The portal's pages for a signed-in recipient (docs/portal.md): the messages they received through the portal
(the conversation), one message with its parts, the replies, reply and reply-all (queued in the outbox for the
gateway), and signing out. A session reaches its own address's messages only: a mailed code proves control of a
mailbox, nothing more (NIST SP 800-63B)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import PortalError
from ..policy.portal_mail import recipients_of, reply_mail
from ..store.portal_records import PortalMessage, PortalReply, PortalSession, PortalState
from .context import client_ip
from .portal_context import SESSION_COOKIE, Portal, portal
from .portal_link import limited, state_page
from .portal_pages import message_page, page, part_response, render_view
from .portal_proof import PROOF_COOKIE, satisfied
from .sessions import clear_cookie

router = APIRouter(include_in_schema=False)
REPLY_PER_ADDRESS = (20, timedelta(hours=1))
#: The longest reply a recipient may write in the portal.
MAX_REPLY = 100_000
SIGNED_OUT = "You are signed out. Open the link in your notification to read the message again."


class NoReader(Exception):
    """No live portal session: the page says how to get one (the link in the notification)."""


def reader(request: Request, app: Portal = Depends(portal)) -> PortalSession:
    raw = request.cookies.get(SESSION_COOKIE, "")
    found = app.messages.get_session(raw, app.now()) if raw else None
    if found is None:
        raise NoReader()
    request.state.portal_session_raw = raw
    return found


def no_reader(request: Request, exc: Exception) -> Response:
    return page(request, "notice.html", 401, heading="Open the link in your notification",
                sentence="This page needs the one-time passcode first: open the link in the notification you "
                         "received and ask for a code.")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def reply_all(original: bytes, record: PortalMessage) -> list[str]:
    """Reply-all's extra recipients: the original's To and Cc addresses inside the sender's organisation (the
    sender's domain) that did not receive it through the portal. Nobody outside gets a reply-all from the portal."""
    inside = _domain(record.sender)
    through_portal = {r.address for r in record.recipients}
    return [a for a in recipients_of(original)
            if _domain(a) == inside and a not in through_portal and a != record.sender]


def _own(app: Portal, who: PortalSession, message_id: str) -> PortalMessage | None:
    """The message, when ``who`` is one of its recipients (else None: the same answer as for no such message)."""
    for message in app.messages.messages_for(who.address, app.now()):
        if message.id == message_id:
            return message
    return None


def _not_found(request: Request, who: PortalSession) -> Response:
    return page(request, "notice.html", 404, reader=who.address, heading="No such message", tone="bad",
                sentence="There is no such message for you.")


@dataclass(frozen=True)
class ReplyView:
    author: str
    created: str
    text: str


def _reply_view(reply: PortalReply) -> ReplyView:
    text = "(no longer kept)"
    if reply.content is not None:
        parsed = email.message_from_bytes(reply.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",)) if isinstance(parsed, EmailMessage) else None
        content = body.get_content() if isinstance(body, EmailMessage) else ""
        text = content if isinstance(content, str) else ""
    return ReplyView(reply.author, reply.created.strftime("%Y-%m-%d %H:%M UTC"), text)


def _open(request: Request, app: Portal, who: PortalSession, message_id: str) -> tuple[PortalMessage, bytes] | Response:
    message = _own(app, who, message_id)
    if message is None:
        return _not_found(request, who)
    gone = state_page(request, message.state, message.brand, message.revoked_note)
    if gone is not None:
        return gone
    raw_session = str(getattr(request.state, "portal_session_raw", ""))
    if message.proof == "account" and who.proof != "account":
        # A mailed code is not enough for this one: the recipient's account (password + TOTP) is needed.
        return page(request, "notice.html", 403, domain=message.brand, reader=who.address,
                    heading="This message needs your portal account", tone="bad",
                    sentence="Open the link in your notification and sign in with your portal account's password "
                             "and the code from your authenticator app.")
    if not satisfied(request, app.key, raw_session, who, message.proof, message_id):
        # A mailed code is not enough for this one: the sender's password is needed too.
        return page(request, "notice.html", 403, domain=message.brand, reader=who.address,
                    heading="This message needs the sender's password", tone="bad",
                    sentence="Open the link in your notification and give the password the sender passed on to "
                             "you by another channel.")
    try:
        raw = app.messages.open_message(message_id, who.address, app.now(), actor=f"portal ({client_ip(request)})")
    except PortalError:
        return _not_found(request, who)
    return message, raw


@router.get("/messages")
def messages_page(request: Request, who: PortalSession = Depends(reader), app: Portal = Depends(portal)) -> Response:
    listed = app.messages.messages_for(who.address, app.now())
    return page(request, "messages.html", reader=who.address, messages=listed, active=PortalState.ACTIVE)


@router.get("/read/{message_id}")
def message(request: Request, message_id: str, images: int = 0, sent: int = 0,
            who: PortalSession = Depends(reader), app: Portal = Depends(portal)) -> Response:
    opened = _open(request, app, who, message_id)
    if isinstance(opened, Response):
        return opened
    record, raw = opened
    view = render_view(raw, app, show_images=bool(images), part_base=f"/read/{message_id}")
    everyone = reply_all(raw, record)
    replies = [_reply_view(r) for r in app.messages.replies(message_id) if r.author == who.address]
    return message_page(request, raw, base=f"/read/{message_id}", show_images=bool(images), domain=record.brand,
                        reader=who.address, message_id=message_id, replies=replies, reply_all=everyone,
                        sent=bool(sent), max_reply=MAX_REPLY, template="reading.html", view=view)


@router.get("/read/{message_id}/part/{index}")
def attachment(request: Request, message_id: str, index: int, who: PortalSession = Depends(reader),
               app: Portal = Depends(portal)) -> Response:
    opened = _open(request, app, who, message_id)
    return opened if isinstance(opened, Response) else part_response(request, opened[1], index=index)


@router.get("/read/{message_id}/cid/{cid}")
def inline_image(request: Request, message_id: str, cid: str, who: PortalSession = Depends(reader),
                 app: Portal = Depends(portal)) -> Response:
    opened = _open(request, app, who, message_id)
    return opened if isinstance(opened, Response) else part_response(request, opened[1], cid=cid)


@router.post("/read/{message_id}/reply")
def reply(request: Request, message_id: str, text: str = Form(max_length=MAX_REPLY), everyone: str = Form(""),
          who: PortalSession = Depends(reader), app: Portal = Depends(portal)) -> Response:
    opened = _open(request, app, who, message_id)
    if isinstance(opened, Response):
        return opened
    record, raw = opened
    if not text.strip():
        return RedirectResponse(f"/read/{message_id}#reply", status_code=303)
    wait = limited(app, [(f"portal-reply-addr:{who.address}", REPLY_PER_ADDRESS)])
    if wait is not None:
        return page(request, "notice.html", 429, reader=who.address, heading="Too many replies", tone="bad",
                    sentence=f"Too many replies in a short time. Wait {wait} minutes and try again.")
    cc = reply_all(raw, record) if everyone else []
    mail = reply_mail(raw, author=who.address, text=text, to=[record.sender], cc=cc, hostname=_domain(who.address))
    now = app.now()
    app.messages.add_reply(message_id, who.address, mail, now, actor=f"portal ({client_ip(request)})")
    app.messages.queue("reply", who.address, [record.sender, *cc], mail, now, message_id=message_id)
    return RedirectResponse(f"/read/{message_id}?sent=1#conversation", status_code=303)


@router.post("/signout")
def signout(request: Request, app: Portal = Depends(portal)) -> Response:
    raw = request.cookies.get(SESSION_COOKIE, "")
    if raw:
        app.messages.end_session(raw)
    response = page(request, "notice.html", heading="Signed out", sentence=SIGNED_OUT)
    clear_cookie(response, SESSION_COOKIE)
    clear_cookie(response, PROOF_COOKIE)
    return response


__all__ = ["NoReader", "no_reader", "reader", "router"]
