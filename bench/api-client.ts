// The api as the benchmarks call it: one POST, its envelope checked, its data returned.

interface Envelope<T> {
  success?: boolean;
  data?: T;
}

/** POSTs `body` to `url` and returns the envelope's data; throws unless the call succeeded. */
export async function call<T>(url: string, headers: Record<string, string>, body: unknown): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = (await res.json()) as Envelope<T>;
  if (res.status !== 200 || !json.success || json.data === undefined) {
    throw new Error(`${url} answered ${res.status}: ${JSON.stringify(json).slice(0, 500)}`);
  }
  return json.data;
}

/** A tenant's headers for a JWT. */
export function headersFor(jwt: string, orgcode: string): Record<string, string> {
  return { authorization: `Bearer ${jwt}`, 'x-orgcode': orgcode, 'content-type': 'application/json' };
}
