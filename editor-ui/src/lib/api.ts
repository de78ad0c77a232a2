/**
 * The management API as the browser parts use it: every call carries the editor's bearer token
 * (from Node-RED's own login in localStorage "auth-tokens", or the full page's login form).
 */
export class ApiError extends Error {
  /** The field the server named (`kernel`, `cmdline`, `initrd[0]` …), to show the error beside it. */
  constructor(readonly status: number, message: string, readonly field?: string) {
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
  /** A change: POST/PUT/PATCH/DELETE with a JSON body; the answer's JSON (undefined for 204). */
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** A call whose answer is text (a rendered script). */
  text(method: 'GET' | 'POST', path: string, body?: unknown): Promise<string>;
  /** Whether this user may change things (Node-RED's permissions for the token: "*" or netboot.write). */
  canWrite(): Promise<boolean>;
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
    async send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
      const res = await call(method, path, body);
      const out = (await res.json().catch(() => undefined)) as { error?: { message?: string; field?: string } } | undefined;
      if (!res.ok) throw new ApiError(res.status, out?.error?.message ?? `HTTP ${res.status}`, out?.error?.field);
      return out as T;
    },
    async text(method: 'GET' | 'POST', path: string, body?: unknown): Promise<string> {
      const res = await call(method, path, body);
      const text = await res.text();
      if (!res.ok) {
        let err: { message?: string; field?: string } | undefined;
        try {
          err = (JSON.parse(text) as { error?: { message?: string; field?: string } }).error;
        } catch {
          err = undefined;
        }
        throw new ApiError(res.status, err?.message ?? `HTTP ${res.status}`, err?.field);
      }
      return text;
    },
    async canWrite(): Promise<boolean> {
      const t = token();
      const res = await fetchImpl(`${base}settings`, { headers: t ? { Authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
      if (!res.ok) return false;
      const s = (await res.json().catch(() => ({}))) as { user?: { permissions?: string | string[] } };
      // no user: Node-RED runs without adminAuth (the API is open only with netbootOpenApi)
      if (!s.user) return true;
      const p = s.user.permissions;
      const list = Array.isArray(p) ? p : p ? [p] : [];
      return list.includes('*') || list.includes('netboot.write');
    },
  };
  function call(method: string, path: string, body?: unknown): Promise<Response> {
    const t = token();
    return fetchImpl(`${base}netboot/api/${path.replace(/^\//, '')}`, {
      method, cache: 'no-store',
      headers: { ...(t ? { Authorization: `Bearer ${t}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }
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
