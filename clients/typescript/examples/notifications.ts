// The notifications socket: the token travels in the `bearer` subprotocol, since a browser
// cannot set headers on a WebSocket.
import { NotificationClose, notificationsUrl, type NotificationEvent } from "@rural24/api-client";

import { API_ORIGIN, tokenStore } from "./client";

export function listen(onMessage: (from: string, preview: string, conversationId: string) => void): WebSocket | null {
  const token = tokenStore.get();
  if (!token) return null;
  const socket = new WebSocket(notificationsUrl(API_ORIGIN), ["bearer", token]);
  socket.addEventListener("message", (frame: MessageEvent<string>) => {
    const event = JSON.parse(frame.data) as NotificationEvent;
    if (event.type === "message.new") onMessage(event.from.name, event.preview, event.conversationId);
  });
  socket.addEventListener("close", (closed: CloseEvent) => {
    // 4401: the session is over (logout, expiry, block): log in again, do not reconnect.
    if (closed.code === NotificationClose.Unauthorized) tokenStore.clear();
  });
  return socket;
}
