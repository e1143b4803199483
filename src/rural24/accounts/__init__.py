"""The accounts context over HTTP: registration, sessions, profiles, the account lifecycle (email
verification, password reset and change, email change, deletion), and moderating users."""

from __future__ import annotations

from litestar.di import Provide

from rural24.accounts.http import (
    AccountsPorts,
    AdminUsersController,
    AuthController,
    MeController,
    UsersController,
    provide_users,
)
from rural24.accounts.lifecycle import AccountEmailsController, MyAccountController
from rural24.contexts import ContextPlugin, provide
from rural24.services import Services


def accounts_plugin(services: Services) -> ContextPlugin:
    ports = AccountsPorts(
        reads=services.reads,
        authenticator=services.authenticator,
        limits=services.limits,
        writes=services.writes,
        tokens=services.account_tokens,
    )
    return ContextPlugin(
        name="accounts",
        route_handlers=[
            AuthController,
            AccountEmailsController,
            MeController,
            MyAccountController,
            UsersController,
            AdminUsersController,
        ],
        dependencies={"accounts": provide(ports), "users": Provide(provide_users)},
    )
