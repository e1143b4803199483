"""The account lifecycle over HTTP: verify the email, reset or change the password, change the
email, delete the account (``domain.accounts.lifecycle`` holds the rules).

Tokens reach users only by email, as links to ``FRONTEND_URL`` carrying ``token=<value>``; the
frontend posts the value back here. No response and no log line carries one.

The two routes that start from an email address (``forgot-password``, ``resend-verification``)
answer 202 with the same body at once and do the work after the response is sent (Litestar's
background task): whether the address has an account changes neither the answer nor how long it
takes. Their rate limits count every request alike.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from msgspec import Meta

from domain.accounts.commands import Email, Password
from domain.accounts.lifecycle import (
    AskForEmail,
    ChangeEmail,
    ChangePassword,
    ResetPassword,
    UseToken,
    change_password,
    confirm_email_change,
    request_email_change,
    request_password_reset,
    resend_verification,
    reset_password,
    verify_email,
)
from domain.accounts.queries import GetProfile, Profile, get_profile
from domain.accounts.rules import MAX_PASSWORD_LENGTH
from domain.shared.errors import AccountGone
from domain.shared.fields import Line
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import Actor, Command, Handler
from infrastructure.account_tokens import digest
from infrastructure.unit_of_work import Writes
from rural24.accounts.http import HEADERS, AccountsPorts
from rural24.auth import PUBLIC, current_user
from rural24.dependencies import Commands
from rural24.openapi import CACHE_CONTROL, documented
from rural24.reading import PRIMARY

logger = logging.getLogger("rural24.accounts")

Token = Annotated[
    Line,
    Meta(
        min_length=1,
        max_length=256,
        description="The `token` query parameter of the emailed link, as received.",
        examples=["q0N0mY3Q2gN4pKXh1kq8sB3lM2c5vXo9zT7rW1aYfEc"],
    ),
]
AnyPassword = Annotated[Line, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
"""A password that is checked, not set: any length the hasher accepts (a wrong one is a 403)."""


class EmailOnly(CamelStruct, forbid_unknown_fields=True):
    email: Annotated[Line, Meta(min_length=3, max_length=254)]


class TokenOnly(CamelStruct, forbid_unknown_fields=True):
    token: Token


class NewPassword(CamelStruct, forbid_unknown_fields=True):
    token: Token
    password: Annotated[Password, Meta(description="The same rules as register: at least 10 characters.")]


class PasswordChange(CamelStruct, forbid_unknown_fields=True):
    current_password: AnyPassword
    new_password: Annotated[Password, Meta(description="The same rules as register: at least 10 characters.")]


class EmailChange(CamelStruct, forbid_unknown_fields=True):
    password: AnyPassword
    new_email: Email


class Accepted(CamelStruct):
    """The same answer whatever the address: it never tells whether an account uses it."""

    detail: str


class PendingEmail(CamelStruct):
    """The address waiting for confirmation; the account keeps its current one until then."""

    pending_email: str
    detail: str


_ACCEPTED = {
    "reset": Accepted("If an account uses this address, an email with a link to choose a new password is on its way."),
    "verify": Accepted("If an account uses this address and is not verified yet, a new link is on its way."),
}


async def _in_background(writes: Writes, handler: Handler[AskForEmail, None], command: Command[AskForEmail]) -> None:
    """The work behind a 202: a failure is logged (never the address), the caller already has its answer."""
    try:
        await writes.run(handler, command)
    except Exception:
        logger.exception("account email request failed (%s)", handler.__name__)


class AccountEmailsController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post(
        "/forgot-password",
        opt=PUBLIC,
        status_code=HTTP_202_ACCEPTED,
        summary="Ask for a password reset link",
        **documented("forgotPassword", "public", body=True, headers=(CACHE_CONTROL,)),
        description="Always 202 with the same body, after the same work, whether the email has an account or "
        "not. When it has, an email carries a link to `FRONTEND_URL/restablecer-clave?token=…`, valid 1 hour and "
        "once; a newer link replaces an older one. Limited per IP (`RATE_LIMIT_ACCOUNT_EMAIL_IP`) and per email "
        "(`RATE_LIMIT_ACCOUNT_EMAIL`): 429 beyond, counted alike for unknown addresses.",
    )
    async def forgot_password(
        self, data: JSONBody[EmailOnly], request: Request[Any, Any, Any], accounts: NamedDependency[AccountsPorts]
    ) -> Response[Accepted]:
        await accounts.limits.account_email(request, data.email)
        command = Command(Actor.system(), AskForEmail(email=data.email, token=accounts.tokens.mint()))
        task = BackgroundTask(_in_background, accounts.writes, request_password_reset, command)
        return Response(_ACCEPTED["reset"], status_code=HTTP_202_ACCEPTED, headers=HEADERS, background=task)

    @post(
        "/reset-password",
        opt=PUBLIC,
        status_code=HTTP_204_NO_CONTENT,
        summary="Choose a new password with an emailed link",
        **documented("resetPassword", "public", body=True, errors=(410,), headers=(CACHE_CONTROL,)),
        description="Sets the password (register's rules: 422 otherwise), uses the link up, and ends every "
        "session of the user on every instance (log in again). Also verifies the email. 400: not a valid link; "
        "410: used, replaced or expired. Limited per IP (`RATE_LIMIT_LOGIN`).",
    )
    async def reset_password(
        self,
        data: JSONBody[NewPassword],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[None]:
        await accounts.limits.token_use(request)
        payload = ResetPassword(digest=digest(data.token), password=data.password)
        await commands.handle(reset_password, Command(Actor.system(), payload))
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=HEADERS)

    @post(
        "/verify-email",
        opt=PUBLIC,
        status_code=HTTP_204_NO_CONTENT,
        summary="Verify the email with an emailed link",
        **documented("verifyEmail", "public", body=True, errors=(410,), headers=(CACHE_CONTROL,)),
        description="The link from the welcome email (or `resend-verification`), posted back by the frontend "
        "from `FRONTEND_URL/verificar-email?token=…`. No login needed. 400: not a valid link; 410: used, "
        "replaced, expired, or for an address the account no longer uses. Limited per IP (`RATE_LIMIT_LOGIN`).",
    )
    async def verify_email(
        self,
        data: JSONBody[TokenOnly],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[None]:
        await accounts.limits.token_use(request)
        await commands.handle(verify_email, Command(Actor.system(), UseToken(digest=digest(data.token))))
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=HEADERS)

    @post(
        "/resend-verification",
        opt=PUBLIC,
        status_code=HTTP_202_ACCEPTED,
        summary="Ask for a new verification link",
        **documented("resendVerification", "public", body=True, headers=(CACHE_CONTROL,)),
        description="Always 202 with the same body, whether the email has an account, is verified already, or "
        "not. A new link replaces the older ones. Limited like `forgot-password` (the same budgets).",
    )
    async def resend_verification(
        self, data: JSONBody[EmailOnly], request: Request[Any, Any, Any], accounts: NamedDependency[AccountsPorts]
    ) -> Response[Accepted]:
        await accounts.limits.account_email(request, data.email)
        command = Command(Actor.system(), AskForEmail(email=data.email, token=accounts.tokens.mint()))
        task = BackgroundTask(_in_background, accounts.writes, resend_verification, command)
        return Response(_ACCEPTED["verify"], status_code=HTTP_202_ACCEPTED, headers=HEADERS, background=task)


class MyAccountController(Controller):
    path = "/api/me"
    tags = ["accounts"]

    @post(
        "/password",
        status_code=HTTP_204_NO_CONTENT,
        summary="Change own password",
        **documented("changePassword", "user", body=True, errors=(403,), headers=(CACHE_CONTROL,)),
        description="With the current password (403 when it is wrong; the session stays valid). This session "
        "keeps working; every other session of the user ends on every instance. The new password follows "
        "register's rules (422).",
    )
    async def change_password(
        self, data: JSONBody[PasswordChange], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> Response[None]:
        me = current_user(request)
        payload = ChangePassword(
            current_password=data.current_password, new_password=data.new_password, keep_token_id=me.token_id
        )
        await commands.handle(change_password, Command(me.actor, payload))
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=HEADERS)

    @post(
        "/email",
        status_code=HTTP_202_ACCEPTED,
        summary="Change own email",
        **documented("changeEmail", "user", body=True, errors=(403, 409), headers=(CACHE_CONTROL,)),
        description="With the password (403 when wrong). Sends a link to the new address "
        "(`FRONTEND_URL/confirmar-email?token=…`, valid 24 hours) and a notice to the current one; the account "
        "keeps its current email until the link is posted to `POST /api/me/email/confirm`. 409: the new "
        "address belongs to another account.",
    )
    async def change_email(
        self,
        data: JSONBody[EmailChange],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[PendingEmail]:
        me = current_user(request)
        payload = ChangeEmail(password=data.password, new_email=data.new_email, token=accounts.tokens.mint())
        pending = await commands.handle(request_email_change, Command(me.actor, payload))
        body = PendingEmail(pending, "Open the link we sent to the new address to confirm it.")
        return Response(body, status_code=HTTP_202_ACCEPTED, headers=HEADERS)

    @post(
        "/email/confirm",
        status_code=HTTP_200_OK,
        summary="Confirm a new email with the emailed link",
        **documented("confirmEmailChange", "user", body=True, errors=(409, 410), headers=(CACHE_CONTROL,)),
        description="Logged in as the account that asked (400 for another account's link, as for a mistyped "
        "one). The new address becomes the account's, verified. 410: used, replaced or expired; 409: the "
        "address was taken meanwhile. Answers the updated profile. Limited per IP (`RATE_LIMIT_LOGIN`).",
    )
    async def confirm_email(
        self,
        data: JSONBody[TokenOnly],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[Profile]:
        await accounts.limits.token_use(request)
        actor = current_user(request).actor
        await commands.handle(confirm_email_change, Command(actor, UseToken(digest=digest(data.token))))
        profile = await get_profile(GetProfile(user_id=actor.user_id), accounts.reads.at(PRIMARY))
        if profile is None:
            raise AccountGone
        return Response(profile, headers=HEADERS)
