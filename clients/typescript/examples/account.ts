// The account lifecycle: the links in account emails come back to the frontend as
// `FRONTEND_URL/<page>?token=…`; the page posts the token to the API.
import type { Profile } from "@rural24/api-client";

import { client, tokenStore } from "./client";

/** `/verificar-email?token=…`: true when verified; "expired" (410) means "ask for a new link". */
export async function verifyEmailFromLink(url: URL): Promise<true | "invalid" | "expired"> {
  const token = url.searchParams.get("token") ?? "";
  const { error } = await client.POST("/api/auth/verify-email", { body: { token } });
  if (!error) return true;
  if (error.status === 410) return "expired";
  return "invalid";
}

/** Always the same answer, whether the address has an account or not. */
export async function forgotPassword(email: string): Promise<string> {
  const { data, error } = await client.POST("/api/auth/forgot-password", { body: { email } });
  if (error) throw new Error(error.status === 429 ? "Probá de nuevo más tarde" : error.title);
  return data.detail;
}

/** `/restablecer-clave?token=…`: every session ends, so the user logs in again afterwards. */
export async function resetPassword(url: URL, password: string): Promise<"done" | "expired" | string> {
  const token = url.searchParams.get("token") ?? "";
  const { error } = await client.POST("/api/auth/reset-password", { body: { token, password } });
  if (!error) {
    tokenStore.clear();
    return "done";
  }
  if (error.status === 410) return "expired";
  // 422: the password breaks a rule; `errors` names the field.
  return error.errors?.[0]?.message ?? error.detail ?? error.title;
}

/** This session stays logged in; the user's other devices are logged out. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  const { error } = await client.POST("/api/me/password", { body: { currentPassword, newPassword } });
  if (error) throw new Error(error.status === 403 ? "La contraseña actual no es correcta" : error.title);
}

/** The account keeps its email until the link sent to the new address is confirmed. */
export async function changeEmail(password: string, newEmail: string): Promise<string> {
  const { data, error } = await client.POST("/api/me/email", { body: { password, newEmail } });
  if (error) throw new Error(error.status === 409 ? "Ese email ya tiene una cuenta" : error.title);
  return data.pendingEmail;
}

/** `/confirmar-email?token=…`, logged in as the account that asked. */
export async function confirmEmailFromLink(url: URL): Promise<Profile> {
  const token = url.searchParams.get("token") ?? "";
  const { data, error } = await client.POST("/api/me/email/confirm", { body: { token } });
  if (error) throw new Error(`${error.status} ${error.title}`);
  return data;
}

/** Cannot be undone: ads, favorites and personal data go; messages stay with a neutral author. */
export async function deleteMyAccount(password: string): Promise<void> {
  const { error } = await client.DELETE("/api/me", { body: { password } });
  if (error) throw new Error(error.status === 403 ? "La contraseña no es correcta" : error.title);
  tokenStore.clear();
}
