/** What the browser tests share: Debian's Chromium, and screenshots kept under test/.tmp (and docs/ with UPDATE_SCREENSHOTS). */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repo } from './start-server';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** Debian's Chromium, headless, quiet: no background traffic of its own (the tests check no other host is asked). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const shots = path.join(repo, 'test', '.tmp', 'screenshots');

/** Screenshot of the first element matching `selector`; `npm run docs:screenshots` also copies it into docs/screenshots. */
export async function shot(page: Page, selector: string, name: string): Promise<void> {
  mkdirSync(shots, { recursive: true });
  const file = path.join(shots, name);
  await page.locator(selector).first().screenshot({ path: file });
  if (process.env.UPDATE_SCREENSHOTS) {
    mkdirSync(path.join(repo, 'docs', 'screenshots'), { recursive: true });
    copyFileSync(file, path.join(repo, 'docs', 'screenshots', name));
  }
}
