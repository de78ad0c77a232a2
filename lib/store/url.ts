/** Where an inventory lives, as text: a JSON file's path (optionally `file:`), or a PostgreSQL URL. */

export function isDatabaseUrl(where: string): boolean {
  return /^postgres(ql)?:\/\//.test(where);
}

/** Another scheme (`mysql://…`): not a store this version knows. */
export function isOtherUrl(where: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(where) && !isDatabaseUrl(where);
}

/** The URL as logs may show it: never the password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** A database URL with a password (from credentials) put in, unless the URL carries one. */
export function withPassword(url: string, password: string | undefined): string {
  if (!url || !password || !isDatabaseUrl(url)) return url;
  try {
    const u = new URL(url);
    if (!u.password) u.password = password;
    return u.toString();
  } catch {
    return url;
  }
}
