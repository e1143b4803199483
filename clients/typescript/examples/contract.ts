// What the generated types promise a frontend that follows API.md; `npm run check` fails when
// a regenerated schema breaks any of it. Compiled, never run.
import type { AdDetail, ProblemDetails } from "@rural24/api-client";

import { client } from "./client";

export async function contract(id: string): Promise<void> {
  const { data, error } = await client.GET("/api/ads/{id}", { params: { path: { id } } });
  if (error) {
    const status: number = error.status;
    const field: string | undefined = error.errors?.[0]?.field;
    // @ts-expect-error: errors are problem+json (`status`), not Litestar's default `status_code` body.
    void error.status_code;
    void [status, field];
    return;
  }
  const ad: AdDetail = data;
  const when: string = ad.createdAt; // camelCase keys
  void when;
}

export async function pathTemplates(id: string): Promise<void> {
  // @ts-expect-error: path templates are written as in API.md (`{id}`), not after handler arguments.
  await client.GET("/api/ads/{ad_id}", { params: { path: { ad_id: id } } });
}

export async function requiredFields(): Promise<void> {
  // @ts-expect-error: a new ad needs at least a title, a category, a province and a locality.
  await client.POST("/api/ads", { body: { description: "sin título" } });
}

export type ProblemStatus = ProblemDetails["status"] extends number ? true : never;
export const problemStatusIsNumber: ProblemStatus = true;
