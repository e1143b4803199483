// The page the browser test loads: a frontend's first steps through the typed client, against a
// real API on another origin (so CORS applies). It reads its inputs from the query string and
// records each step in the DOM (data-state), where the test reads it.
import {
  createRural24Client,
  openNotifications,
  type NotificationEvent,
  type ProblemDetails,
} from "../../../clients/typescript/src/index";

const input = new URLSearchParams(location.search);
const api = input.get("api") ?? "";
const byId = (id: string): HTMLElement => document.getElementById(id) as HTMLElement;
const step = (id: string, state: string): void => {
  byId(id).dataset.state = state;
};
const fail = (where: string, problem: ProblemDetails | unknown): never => {
  step(where, "failed");
  byId("errors").textContent += `${where}: ${JSON.stringify(problem)}\n`;
  throw new Error(where);
};

let token: string | null = null;
const client = createRural24Client({ baseUrl: api, getToken: () => token });

async function main(): Promise<void> {
  // 1. search, anonymously
  const found = await client.GET("/api/ads/search", { params: { query: { q: input.get("q") ?? "", pageSize: 10 } } });
  if (found.error) fail("search", found.error);
  const results = found.data!.results;
  for (const ad of results) {
    const item = document.createElement("li");
    item.dataset.adId = ad.id;
    item.textContent = `${ad.title} · ${ad.price ?? "a consultar"} ${ad.currency} · ${ad.province}`;
    byId("results").append(item);
  }
  step("search", results.length ? "done" : "failed");
  if (!results.length) return;

  // 2. open the first result
  const detail = await client.GET("/api/ads/{id}", { params: { path: { id: results[0].id } } });
  if (detail.error) fail("ad", detail.error);
  byId("ad-title").textContent = detail.data!.title;
  byId("ad-seller").textContent = detail.data!.seller.name;
  byId("ad").dataset.adId = detail.data!.id;
  step("ad", "done");

  // 3. log in
  const login = await client.POST("/api/auth/login", {
    body: { email: input.get("email") ?? "", password: input.get("password") ?? "" },
  });
  if (login.error) fail("session", login.error);
  token = login.data!.token;
  byId("user").textContent = login.data!.user.name;
  step("session", "done");

  // 4. the notifications socket, the token in the subprotocol
  const socket = openNotifications(api, token);
  step("socket", "connecting");
  socket.addEventListener("message", (frame: MessageEvent<string>) => {
    const event = JSON.parse(frame.data) as NotificationEvent;
    if (event.type === "ready") step("socket", "ready");
    if (event.type === "message.new") {
      const item = document.createElement("li");
      item.dataset.messageId = event.messageId;
      item.textContent = `${event.from.name}: ${event.preview}`;
      byId("notifications").append(item);
    }
  });
  socket.addEventListener("close", (closed: CloseEvent) => {
    byId("socket").dataset.closeCode = String(closed.code);
    step("socket", "closed");
  });
}

main().catch((error: unknown) => {
  byId("errors").textContent += `${String(error)}\n`;
});
