// One client for the whole app. The token lives wherever the app keeps it; getToken is asked
// before every request, so logging in or out needs no new client.
import { createRural24Client } from "@rural24/api-client";

export const API_ORIGIN = "http://127.0.0.1:8000";
const TOKEN_KEY = "rural24.token";

export const tokenStore = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (token: string): void => localStorage.setItem(TOKEN_KEY, token),
  clear: (): void => localStorage.removeItem(TOKEN_KEY),
};

export const client = createRural24Client({ baseUrl: API_ORIGIN, getToken: tokenStore.get });
