// Which Pinecone API version a request speaks. Answers are shaped by it: IndexModel with
// `spec` up to 2026-04 and `deployment` + `schema` from 2026-07, namespace record counts as
// integers before 2026-07 and decimal strings from it, the default namespace reported as ""
// in 2025-04 and "__default__" later.

export const API_VERSIONS = ['2025-04', '2025-10', '2026-04', '2026-07'] as const
export type ApiVersion = (typeof API_VERSIONS)[number]

const OLDEST: ApiVersion = '2025-04'

/**
 * The version named by `X-Pinecone-Api-Version`. No header means the oldest supported version
 * (as on Pinecone). A version between two known ones is answered as the older of them; one
 * newer than all of them as the newest; one older than all of them as the oldest.
 */
export function parseApiVersion(header: string | string[] | undefined): ApiVersion {
  const raw = Array.isArray(header) ? header[0] : header
  if (!raw || !/^\d{4}-\d{2}$/.test(raw.trim())) return OLDEST
  const v = raw.trim()
  let chosen: ApiVersion = OLDEST
  for (const known of API_VERSIONS) if (known <= v) chosen = known
  return chosen
}

export function atLeast(v: ApiVersion, min: ApiVersion): boolean {
  return v >= min
}
