import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../shared/package-root';

/**
 * A real headless Chromium for the page tests: Debian's `chromium` package driven by
 * playwright-core through `executablePath` — nothing is downloaded, ever. A fresh
 * profile directory per launch, removed on close; flags keep the browser from
 * reaching the network on its own (updates, sync, QUIC probes). Every console error
 * and uncaught page error is collected, so a test can assert there were none.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  readonly context: BrowserContext;
  newPage(): Promise<Page>;
  /** Console errors, page errors and requests to other origins, as text. */
  readonly problems: string[];
  close(): Promise<void>;
}

export async function launchBrowser(allowedOrigins: () => readonly string[]): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'fdl-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (req) => {
      const origin = new URL(req.url()).origin;
      if (!allowedOrigins().includes(origin)) problems.push(`request to another origin: ${req.url()}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  let closing: Promise<void> | undefined;
  return {
    context,
    problems,
    newPage: () => context.newPage(),
    close: () =>
      (closing ??= (async () => {
        try {
          await context.close();
        } finally {
          rmSync(profile, { recursive: true, force: true });
        }
      })()),
  };
}

/** test-output/<name>/ in the repository (ignored by git): screenshots and the like. */
export function testOutputDir(name: string): string {
  const dir = path.join(packageRoot(), 'test-output', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
