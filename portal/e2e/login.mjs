// login.mjs URL — signs in to the tollgate portal at URL in headless Chromium, as a
// person on a phone would, and checks what the pages show. Run by portal/browser_test.go.
//
// Environment: E2E_EMAIL and E2E_PASSWORD (an admin without TOTP; never on the command
// line, where ps shows it), CHROMIUM (default /usr/bin/chromium), and optionally
// E2E_SCREENSHOTS, a directory for a PNG of each page. Prints one "ok ..." line per check
// and exits 0, or prints "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, phone } from './browser.mjs';

const base = process.argv[2];
const email = process.env.E2E_EMAIL;
const password = process.env.E2E_PASSWORD;
const shots = process.env.E2E_SCREENSHOTS;
if (!base || !email || !password) {
  console.log('FAIL: usage: E2E_EMAIL=… E2E_PASSWORD=… node login.mjs URL');
  process.exit(2);
}


async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

// noSideScroll: a phone never needs to scroll sideways.
async function noSideScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

await run(phone, async (page, context) => {

  let resp = await page.goto(base + '/admin');
  check(new URL(page.url()).pathname === '/login', 'an anonymous visit to /admin lands on /login');
  check(resp.status() === 200, '/login answers 200');
  const viewport = await page.getAttribute('meta[name=viewport]', 'content');
  check(viewport === 'width=device-width, initial-scale=1', 'the login page has a phone viewport');
  check(await noSideScroll(page), 'the login page fits a 390px phone');
  check(await page.locator('input[name=csrf]').count() === 1, 'the login form carries a CSRF field');
  await shot(page, 'login');

  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password + '-wrong');
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  check((await page.textContent('.error') || '').includes('wrong email or password'), 'a wrong password shows an error');
  check(await page.inputValue('input[name=email]') === email, 'the email stays in the form');
  await shot(page, 'login-failed');

  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL('**/admin'), page.click('button[type=submit]')]);
  const signedIn = (await page.textContent('#signed-in') || '').trim();
  check(signedIn === `Signed in as ${email} (admin).`, 'the dashboard shows: ' + signedIn);
  check(await noSideScroll(page), 'the dashboard fits a 390px phone');
  const cookies = await context.cookies(base);
  const sess = cookies.find(c => c.name === 'tg_session');
  check(sess && sess.httpOnly && sess.sameSite === 'Strict' && sess.path === '/', 'the session cookie is HttpOnly, SameSite=Strict, Path=/');
  check(await page.evaluate(() => document.cookie.includes('tg_session')) === false, 'scripts cannot read the session cookie');
  await shot(page, 'dashboard');

  await Promise.all([page.waitForURL('**/admin/users'), page.click('a[href="/admin/users"] >> nth=0')]);
  check((await page.textContent('main')).includes(email), 'the users page lists the admin');
  await shot(page, 'users');

  await Promise.all([page.waitForURL('**/login'), page.click('form.logout button')]);
  resp = await page.goto(base + '/admin');
  check(new URL(page.url()).pathname === '/login', 'after signing out, /admin leads to /login again');
  console.log('OK dashboard shown and signed out');
});
