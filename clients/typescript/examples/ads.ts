// Reading and publishing ads, as API.md describes them.
import type { AdDetail, AdSummary, NewAd, ProblemDetails, SearchAdsQuery } from "@rural24/api-client";

import { client } from "./client";

/** `GET /api/ads/{id}`: the typed detail, or null when the ad is not (or no longer) public. */
export async function showAd(id: string): Promise<AdDetail | null> {
  const { data, error } = await client.GET("/api/ads/{id}", { params: { path: { id } } });
  if (error) {
    const status: number = error.status;
    if (status === 404) return null;
    throw new Error(`${error.title}: ${error.detail ?? ""}`);
  }
  const ad: AdDetail = data;
  return ad;
}

/** `GET /api/ads/search` with filters; `nextCursor` pages on without offsets. */
export async function searchTractors(cursor?: string): Promise<{ ads: AdSummary[]; next: string | null }> {
  const query: SearchAdsQuery = {
    q: "tractor",
    province: "cordoba",
    minPrice: "1000000.00",
    currency: "ARS",
    sort: "price_asc",
    pageSize: 20,
    ...(cursor ? { cursor } : {}),
  };
  const { data, error } = await client.GET("/api/ads/search", { params: { query } });
  if (error) {
    // 422: every offending query parameter at once, by its name in the URL (`pageSize`).
    const first = error.errors?.[0];
    throw new Error(first ? `${first.field}: ${first.message}` : error.title);
  }
  return { ads: data.results, next: data.nextCursor ?? null };
}

/** `POST /api/ads` with an Idempotency-Key: a retry after a timeout returns the first ad, never a second one. */
export async function publishAd(ad: NewAd, idempotencyKey: string = crypto.randomUUID()): Promise<AdDetail> {
  const { data, error, response } = await client.POST("/api/ads", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body: ad,
  });
  if (error) throw problemError(error, response);
  return data;
}

export const draft: NewAd = {
  title: "Tractor John Deere 5090E",
  description: "Usado, 2.300 horas, cabina con aire.",
  price: "45000.00",
  currency: "USD",
  categoryId: "0190c7a4-5b7e-7c2a-9f1e-3a2b1c0d9e8f",
  province: "cordoba",
  locality: "Marcos Juárez",
  condition: "used",
};

/** `PATCH /api/ads/{id}` guarded by the ETag of the copy being edited: 412 when someone changed it meanwhile. */
export async function renameAd(id: string, title: string): Promise<AdDetail | "stale"> {
  const current = await client.GET("/api/ads/{id}", { params: { path: { id } } });
  if (current.error) throw problemError(current.error, current.response);
  const etag = current.response.headers.get("ETag") ?? "*";
  const { data, error, response } = await client.PATCH("/api/ads/{id}", {
    params: { path: { id }, header: { "If-Match": etag } },
    body: { title },
  });
  if (error) {
    if (error.status === 412) return "stale";
    throw problemError(error, response);
  }
  return data;
}

/** One Error for any problem+json answer; 429 and 503 say when to try again. */
export function problemError(problem: ProblemDetails, response: Response): Error {
  const retryAfter = response.headers.get("Retry-After");
  const when = retryAfter ? ` (retry in ${retryAfter} s)` : "";
  return new Error(`${problem.status} ${problem.title}${when}: ${problem.detail ?? ""}`);
}
