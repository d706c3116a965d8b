// browser.mjs — what every browser test here shares: launching Debian's Chromium through
// playwright-core with a fresh profile and the flags this closed network needs, the
// one-line check report, and signing in through /login.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// phone is the viewport of the mobile checks.
export const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

// check prints "ok what" or throws, which run reports as the failure.
export function check(cond, what) {
  if (!cond) throw new Error(what);
  console.log('ok ' + what);
}

// run launches Chromium (CHROMIUM, default /usr/bin/chromium) with a new user-data-dir
// and the context options given, calls body(page, context), and reports: exit code 0,
// or a "FAIL: ..." line and exit code 1. The profile is removed afterwards.
export async function run(options, body) {
  const profile = mkdtempSync(join(tmpdir(), 'tollgate-e2e-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 60000,
      ...options,
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15000);
    await body(page, context);
  } catch (err) {
    console.log('FAIL: ' + (err && err.message ? err.message.split('\n')[0] : err));
    process.exitCode = 1;
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// signIn fills /login and waits for the landing page (e.g. '**/admin').
export async function signIn(page, base, email, password, landing) {
  await page.goto(base + '/login');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(landing), page.click('button[type=submit]')]);
}
