// users.mjs URL — an admin disables a portal user on the users page, in headless Chromium,
// and that user's open session is gone at its next request; then the admin enables the
// user again. Run by portal/users_browser_test.go.
//
// The reseller signs in first and keeps the session's cookie; the admin then signs in in
// the same browser (cookies cleared in between), looks at the users page at 1280px and
// 390px wide, and presses "Disable account" on the reseller's card. The reseller's
// cookie is put back and its page reloaded: it must land on /login.
//
// Environment: E2E_ADMIN_EMAIL, E2E_ADMIN_PASSWORD, E2E_USER_EMAIL, E2E_USER_PASSWORD (a
// reseller; no TOTP for either), CHROMIUM (default /usr/bin/chromium), E2E_SCREENSHOTS
// (a directory for users-1280.png, users-390.png and users-disabled-390.png). Prints one
// "ok ..." line per check and exits 0, or prints "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, signIn } from './browser.mjs';

const base = process.argv[2];
const { E2E_ADMIN_EMAIL: adminEmail, E2E_ADMIN_PASSWORD: adminPassword,
  E2E_USER_EMAIL: userEmail, E2E_USER_PASSWORD: userPassword, E2E_SCREENSHOTS: shots } = process.env;
if (!base || !adminEmail || !adminPassword || !userEmail || !userPassword) {
  console.log('FAIL: usage: E2E_ADMIN_EMAIL=… E2E_ADMIN_PASSWORD=… E2E_USER_EMAIL=… E2E_USER_PASSWORD=… node users.mjs URL');
  process.exit(2);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

// noSideScroll: the page never needs to scroll sideways.
async function noSideScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

await run({ viewport: { width: 1280, height: 900 } }, async (page, context) => {
  await signIn(page, base, userEmail, userPassword, '**/reseller');
  check(page.url().endsWith('/reseller'), 'the reseller is signed in');
  const userCookies = await context.cookies(base);
  await context.clearCookies();

  await signIn(page, base, adminEmail, adminPassword, '**/admin');
  const adminCookies = await context.cookies(base);
  await page.goto(base + '/admin/users');
  const card = page.locator(`li.user[data-email="${userEmail}"]`);
  check(await card.count() === 1, 'the users page has a card for ' + userEmail);
  check((await card.locator('.badge.on').textContent()).trim() === 'active', 'the card says active');
  const own = page.locator(`li.user[data-email="${adminEmail}"]`);
  check(await own.locator('button[name=disable]').count() === 0, "the admin's own card has no Disable button");
  check(await noSideScroll(page), 'the users page fits 1280px');
  await shot(page, 'users-1280');

  await page.setViewportSize({ width: 390, height: 844 });
  check(await noSideScroll(page), 'the users page fits a 390px phone');
  const box = await card.locator('button[name=disable]').boundingBox();
  check(box && box.height >= 44 && box.x >= 0 && box.x + box.width <= 390, 'the Disable button is whole and at least 44px tall on a phone');
  await shot(page, 'users-390');

  await Promise.all([page.waitForURL('**/admin/users'), card.locator('button[name=disable]').click()]);
  check((await card.locator('.badge.off').textContent()).trim() === 'disabled', 'after Disable the card says disabled');
  check(await card.locator('button[name=enable]').count() === 1, 'the card offers Enable');
  await shot(page, 'users-disabled-390');

  // The reseller's browser: its next request finds no session.
  await context.clearCookies();
  await context.addCookies(userCookies);
  await page.goto(base + '/reseller');
  check(new URL(page.url()).pathname === '/login', "the disabled user's next request lands on /login");
  check((await context.cookies(base)).every(c => c.name !== 'tg_session'), "the disabled user's session cookie is dropped");
  await page.fill('input[name=email]', userEmail);
  await page.fill('input[name=password]', userPassword);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  check((await page.textContent('.error') || '').includes('wrong email or password'), 'the disabled user cannot sign in again');

  // The admin enables the user again.
  await context.clearCookies();
  await context.addCookies(adminCookies);
  await page.goto(base + '/admin/users');
  await Promise.all([page.waitForURL('**/admin/users'), card.locator('button[name=enable]').click()]);
  check((await card.locator('.badge.on').textContent()).trim() === 'active', 'after Enable the card says active');
  console.log('OK disabled a user, whose session ended, and enabled it again');
});
