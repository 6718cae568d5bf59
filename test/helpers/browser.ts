import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { once, onCleanup } from './cleanup';
import { testToolchain } from './servers';

/**
 * Chromium flags for a machine without internet: everything the browser would fetch on its own is
 * off, and any host but 127.0.0.1 fails to resolve at once, so a page that asks for something
 * outside cannot hang on DNS or leak a request. playwright-core adds most of the background ones
 * too; they are spelled out here so the test does not depend on its defaults.
 */
export const CLOSED_NETWORK_FLAGS = [
  // Chromium refuses to start as root with its sandbox on; the pages are our own loopback servers.
  '--no-sandbox',
  // No GPU on test machines: software rendering, no GPU process probing drivers.
  '--disable-gpu',
  // Straight to 127.0.0.1, whatever http_proxy/https_proxy the environment sets (Chromium on Linux honours them).
  '--no-proxy-server',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--dns-prefetch-disable',
  // Nothing in the background: no component or variations updates, safe browsing lists, sync,
  // default apps, first-run or default-browser prompts, crash uploads, metrics uploads, pings.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-field-trial-config',
  '--disable-client-side-phishing-detection',
  '--disable-domain-reliability',
  '--disable-sync',
  '--disable-default-apps',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-breakpad',
  '--metrics-recording-only',
  '--no-pings',
];

/** Debian's Chromium, headless, on the closed network; closed by the test's cleanup even when interrupted. */
export async function launchChromium(): Promise<Browser> {
  const { chromium: executablePath } = await testToolchain();
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CLOSED_NETWORK_FLAGS,
    timeout: 120_000,
  });
  onCleanup(once(() => browser.close()));
  return browser;
}

/** Test artifacts (git-ignored): screenshots a person can look at after the run. */
export const ARTIFACTS_DIR = resolve(__dirname, '..', '..', 'test-results');

/** Saves a full-page screenshot as `test-results/<dir>/<name>.png` and prints its path. */
export async function saveScreenshot(page: Page, dir: string, name: string): Promise<string> {
  const folder = join(ARTIFACTS_DIR, dir);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${relative(process.cwd(), path)}`);
  return path;
}
