// Logging in and out: the token from login goes to the token store the client reads.
import type { AuthResult } from "@rural24/api-client";

import { client, tokenStore } from "./client";

export async function logIn(email: string, password: string): Promise<AuthResult["user"]> {
  const { data, error } = await client.POST("/api/auth/login", { body: { email, password } });
  if (error) {
    // 401 is the same for an unknown email and a wrong password; 429 when tried too often.
    throw new Error(error.status === 401 ? "Email o contraseña incorrectos" : error.title);
  }
  tokenStore.set(data.token);
  return data.user;
}

export async function logOut(): Promise<void> {
  await client.POST("/api/auth/logout");
  tokenStore.clear();
}

export async function sendMessage(recipientId: string, content: string, adId?: string): Promise<string> {
  const { data, error } = await client.POST("/api/messages/send", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { recipientId, content, ...(adId ? { adId } : {}) },
  });
  if (error) throw new Error(`${error.status} ${error.title}`);
  return data.conversationId;
}
