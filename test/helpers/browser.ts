/** What the browser tests share: Debian's Chromium, and screenshots kept under test/.tmp (and docs/ with UPDATE_SCREENSHOTS). */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { repo } from './start-server';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

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
