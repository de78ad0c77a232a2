/// <reference lib="dom" />
/**
 * Debian's Chromium driven by playwright-core for the dashboard benchmark (never a downloaded
 * browser), and the editor login the full page reuses: a bearer token from Node-RED's
 * `/auth/token`, put where the editor keeps it (`localStorage["auth-tokens"]`).
 */
import { existsSync } from 'node:fs';
import type { Browser, BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function haveChromium(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} missing (Debian package chromium)`;
}

/** The flags the browser tests use (test/browser): headless, no sandbox as root, nothing phoning home. */
export const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}

/** Logs in to Node-RED with the password grant and returns the bearer token. */
export async function login(baseUrl: string, password: string, username = 'admin'): Promise<string> {
  const res = await fetch(`${baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A fresh context (own cache and storage) at 1280×800 whose pages start logged in as the editor would be. */
export async function loggedInContext(browser: Browser, token: string): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript((t) => localStorage.setItem('auth-tokens', JSON.stringify({ access_token: t, expires_in: 604800, token_type: 'Bearer' })), token);
  return ctx;
}
