/**
 * The management API as the browser parts use it: every call carries the editor's bearer token
 * (from Node-RED's own login in localStorage "auth-tokens", or the full page's login form).
 */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const TOKENS_KEY = 'auth-tokens';

/** The editor's access token, if the user is logged in to this Node-RED. */
export function editorToken(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): string | undefined {
  try {
    const raw = storage?.getItem(TOKENS_KEY);
    const t = raw ? (JSON.parse(raw) as { access_token?: unknown }).access_token : undefined;
    return typeof t === 'string' && t ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Stores a token the way the editor does, so the editor and the full page share one login. */
export function saveEditorToken(t: { access_token: string; expires_in?: number; token_type?: string }): void {
  localStorage.setItem(TOKENS_KEY, JSON.stringify(t));
}

export interface Client {
  /** The admin root, ending in "/" (the editor's URL). */
  root: string;
  token: () => string | undefined;
  get<T>(path: string): Promise<T>;
}

export function createClient(root: string, token: () => string | undefined = () => editorToken(), fetchImpl: typeof fetch = (...a) => fetch(...a)): Client {
  const base = root.endsWith('/') ? root : `${root}/`;
  return {
    root: base,
    token,
    async get<T>(path: string): Promise<T> {
      const t = token();
      const res = await fetchImpl(`${base}netboot/api/${path.replace(/^\//, '')}`, { headers: t ? { Authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
      const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
      if (!res.ok) throw new ApiError(res.status, body?.error?.message ?? `HTTP ${res.status}`);
      return body as T;
    },
  };
}

/** Node-RED's password login: POST auth/token, as the editor does. */
export async function login(root: string, username: string, password: string, fetchImpl: typeof fetch = (...a) => fetch(...a)): Promise<{ access_token: string; expires_in: number; token_type: string }> {
  const res = await fetchImpl(`${root.endsWith('/') ? root : `${root}/`}auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username, password }),
  });
  if (!res.ok) throw new ApiError(res.status, `HTTP ${res.status}`);
  return res.json() as Promise<{ access_token: string; expires_in: number; token_type: string }>;
}
