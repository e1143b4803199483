"""The messaging context: messages over HTTP, the notifications WebSocket, the digest job."""

from __future__ import annotations

from rural24.contexts import ContextPlugin, provide
from rural24.messaging.http import MessagesController, MessagingPorts
from rural24.messaging.jobs import send_message_digest
from rural24.messaging.socket import notifications_socket
from rural24.services import Services


def messaging_plugin(services: Services) -> ContextPlugin:
    ports = MessagingPorts(
        reads=services.reads,
        limits=services.limits,
        idempotency=services.idempotency,
        authenticator=services.authenticator,
        notifier=services.notifier,
    )
    return ContextPlugin(
        name="messaging",
        route_handlers=[MessagesController, notifications_socket],
        dependencies={"messaging": provide(ports)},
        jobs=[send_message_digest],
    )
