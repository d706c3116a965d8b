// hotspot.mjs CODE URL... — opens each tollgate /hotspot/login URL (built like a
// RouterOS redirect) in headless Chromium on a phone-sized screen, types CODE and submits;
// the form posts to the fake router of portal/hotspot_browser_test.go, whose answer says
// "fake router got the login". The Go test checks what the router received.
//
// Environment: CHROMIUM (default /usr/bin/chromium), optionally E2E_SCREENSHOTS. Prints
// one "ok ..." line per check and exits 0, or prints "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, phone } from './browser.mjs';

const [code, ...urls] = process.argv.slice(2);
const shots = process.env.E2E_SCREENSHOTS;
if (!code || urls.length === 0) {
  console.log('FAIL: usage: node hotspot.mjs CODE URL...');
  process.exit(2);
}


await run(phone, async (page) => {
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));

  for (const [i, url] of urls.entries()) {
    const resp = await page.goto(url);
    check(resp.status() === 200, `login page ${i} answers 200`);
    check(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `login page ${i} fits a 390px phone`);
    if (shots) await page.screenshot({ path: join(shots, `hotspot-login-${i}.png`), fullPage: true });
    await page.fill('input[name=username]', '  ' + code + ' ');
    await Promise.all([page.waitForURL(u => !u.pathname.startsWith('/hotspot/')), page.click('button[type=submit]')]);
    check((await page.textContent('body')).includes('fake router got the login'), `login ${i} reached the router`);
  }
  check(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join('; ') : ''));
  console.log('OK hotspot logins posted to the router');
});
