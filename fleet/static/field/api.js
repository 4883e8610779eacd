// The API as the field app uses it: the sign-in cookie (with the header that lets this page
// write), a timeout on every request, and errors told apart: offline or dropped (retry), or an
// answer (handled by the caller).
export const FIELD_HEADER = { "X-Fleet-Client": "field" };

export class Dropped extends Error {}

export class Answer extends Error {
  constructor(response, body) {
    super(`HTTP ${response.status}`);
    this.status = response.status;
    this.body = body;
    this.headers = response.headers;
  }
}

export async function call(path, { method = "GET", body, headers = {}, timeoutMs = 60000, raw = false } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        ...FIELD_HEADER,
        ...(body !== undefined && !raw ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    });
  } catch (error) {
    throw new Dropped(String(error));
  } finally {
    clearTimeout(timer);
  }
  let parsed = null;
  try {
    const text = await response.text();
    parsed = text ? JSON.parse(text) : null;
  } catch (error) {
    if (response.ok) throw new Dropped(`unreadable answer: ${error}`);
  }
  if (!response.ok) throw new Answer(response, parsed);
  return { body: parsed, headers: response.headers, status: response.status };
}
