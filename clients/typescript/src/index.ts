/**
 * The Rural24 API client: openapi-fetch over the types generated from the committed OpenAPI
 * snapshot (src/schema.d.ts). Every path, parameter, body and response is typed; error bodies are
 * the API's problem+json documents.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema";

export type { components, operations, paths };

type Schemas = components["schemas"];

/** An RFC 9457 error body (`application/problem+json`): `status`, `title`, `detail`, and for
 * validation errors `errors: [{field, message, source}]` naming every offending JSON field. */
export type ProblemDetails = Schemas["ProblemDetails"];
/** One offending field of a validation error: `field` is its JSON name (`pageSize`), `source` where it was sent. */
export type FieldProblem = Schemas["FieldProblem"];

export type AdDetail = Schemas["AdDetail"];
export type AdSummary = Schemas["AdSummary"];
export type OwnAdSummary = Schemas["OwnAdSummary"];
export type NewAd = Schemas["NewAd"];
export type AdChanges = Schemas["AdChanges"];
export type SearchResponse = Schemas["SearchResponse"];
export type CategoryRead = Schemas["CategoryRead"];
export type ProvinceRead = Schemas["ProvinceRead"];
export type AuthResult = Schemas["AuthResult"];
export type Profile = Schemas["Profile"];
export type SellerProfile = Schemas["SellerProfile"];
export type SendMessage = Schemas["SendMessage"];
export type MessageAccepted = Schemas["MessageAccepted"];
export type ConversationSummary = Schemas["ConversationSummary"];
export type ConversationMessages = Schemas["ConversationMessages"];
export type SavedSearchRead = Schemas["SavedSearchRead"];

/** The query parameters of `GET /api/ads/search`. */
export type SearchAdsQuery = NonNullable<paths["/api/ads/search"]["get"]["parameters"]["query"]>;

/** Where the token comes from: a fixed one, or a function asked before every request (a store
 * that refreshes or clears it on logout). Without either, requests go out anonymous. */
export type TokenSource =
  | { token?: string | null; getToken?: never }
  | { getToken: () => string | null | undefined | Promise<string | null | undefined>; token?: never };

export type Rural24ClientOptions = Omit<ClientOptions, "baseUrl"> & {
  /** The API's origin, e.g. `https://api.rural24.example` (paths already start with `/api`). */
  baseUrl: string;
} & TokenSource;

export type Rural24Client = Client<paths>;

/** Adds `Authorization: Bearer <token>` unless the request already carries an Authorization header. */
export function bearerAuth(source: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      if (request.headers.has("Authorization")) return request;
      const token = source.getToken ? await source.getToken() : source.token;
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
}

export function createRural24Client(options: Rural24ClientOptions): Rural24Client {
  const { token, getToken, ...clientOptions } = options;
  const client = createClient<paths>(clientOptions);
  client.use(bearerAuth(getToken ? { getToken } : { token }));
  return client;
}

// The notifications WebSocket is not part of the OpenAPI document; its frames (JSON text) are
// typed here by hand after the server's protocol: `ready` once subscribed, then the events.
export type NotificationEvent =
  | { type: "ready" }
  | { type: "pong" }
  | {
      type: "message.new";
      messageId: string;
      conversationId: string;
      from: { id: string; name: string };
      /** At most 50 characters, one line. */
      preview: string;
    };

/** Close codes of the notifications socket: 4401 means log in again (do not reconnect with the
 * same token); 1011 means try again later with a backoff. */
export const NotificationClose = { Unauthorized: 4401, TryAgain: 1011 } as const;

/** `ws(s)://…/api/ws/notifications` for the client's `baseUrl` (resolved like openapi-fetch does:
 * paths are appended, and an empty baseUrl means the page's own origin). */
export function notificationsUrl(baseUrl: string): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, "")}/api/ws/notifications`, globalThis.location?.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/** Opens the notifications socket with the token in the `bearer` subprotocol (browsers cannot
 * set an Authorization header on a WebSocket; a `?token=` URL would end up in proxy logs). */
export function openNotifications(baseUrl: string, token: string): WebSocket {
  return new WebSocket(notificationsUrl(baseUrl), ["bearer", token]);
}
