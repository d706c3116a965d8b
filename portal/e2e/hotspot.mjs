// hotspot.mjs CODE FOREIGN-URL URL... — opens each tollgate /hotspot/login URL (built like
// a RouterOS redirect, for a router whose host is a configured login host) in headless
// Chromium on a phone-sized screen, types CODE and submits; the form posts to the fake
// router of portal/hotspot_browser_test.go, whose answer says "fake router got the
// login". FOREIGN-URL is a login URL whose link-login-only names a host that is no
// configured login host: it must show an error and no form. Last, the page's CSP must
// stop a form made to post elsewhere. The Go test checks what the router received.
//
// Environment: CHROMIUM (default /usr/bin/chromium), optionally E2E_SCREENSHOTS (a
// directory: the login and error pages at 390px and 1280px). Prints one "ok ..." line
// per check and exits 0, or prints "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, phone } from './browser.mjs';

const [code, foreign, ...urls] = process.argv.slice(2);
const shots = process.env.E2E_SCREENSHOTS;
if (!code || !foreign || urls.length === 0) {
  console.log('FAIL: usage: node hotspot.mjs CODE FOREIGN-URL URL...');
  process.exit(2);
}

const fits = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

await run(phone, async (page) => {
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));

  for (const [i, url] of urls.entries()) {
    const resp = await page.goto(url);
    check(resp.status() === 200, `login page ${i} answers 200`);
    check(await fits(page), `login page ${i} fits a 390px phone`);
    if (shots && i === 0) await page.screenshot({ path: join(shots, 'hotspot-login-390.png'), fullPage: true });
    await page.fill('input[name=username]', '  ' + code + ' ');
    await Promise.all([page.waitForURL(u => !u.pathname.startsWith('/hotspot/')), page.click('button[type=submit]')]);
    check((await page.textContent('body')).includes('fake router got the login'), `login ${i} reached the router`);
  }

  // A router nobody configured: an error, and nothing to type a code into.
  let resp = await page.goto(foreign);
  check(resp.status() === 403, 'a foreign router\'s login page answers 403');
  check(await page.locator('form').count() === 0 && await page.locator('input').count() === 0, 'a foreign router\'s login page has no form');
  check((await page.textContent('[role=alert]')).includes('does not serve'), 'a foreign router\'s login page says why');
  check(await fits(page), 'the error page fits a 390px phone');
  if (shots) await page.screenshot({ path: join(shots, 'hotspot-foreign-390.png'), fullPage: true });

  // The CSP lets the form post to its router only: pointed elsewhere, the post is blocked.
  const other = new URL(foreign).searchParams.get('link-login-only');
  await page.goto(urls[0]);
  const violated = page.evaluate(() => new Promise(resolve => {
    document.addEventListener('securitypolicyviolation', e => resolve(e.violatedDirective), { once: true });
  }));
  await page.evaluate((action) => { const f = document.forms[0]; f.action = action; f.submit(); }, other);
  check(await violated === 'form-action', 'a form pointed at another host is blocked by form-action');

  await page.setViewportSize({ width: 1280, height: 800 });
  resp = await page.goto(urls[0]);
  check(resp.status() === 200 && await fits(page), 'the login page fits 1280px');
  if (shots) await page.screenshot({ path: join(shots, 'hotspot-login-1280.png'), fullPage: true });
  resp = await page.goto(foreign);
  check(resp.status() === 403 && await fits(page), 'the error page fits 1280px');
  if (shots) await page.screenshot({ path: join(shots, 'hotspot-foreign-1280.png'), fullPage: true });

  check(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join('; ') : ''));
  console.log('OK hotspot logins posted to the router');
});
