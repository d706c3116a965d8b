// subscribers.mjs URL — an admin finds a subscriber in headless Chromium and works on
// it: the directory (menu → search), the subscriber's page, the profile form refused
// with each bad field named and then saved, a manual top-up double-clicked (credited
// once), the receipt's and the statement's A4 pages; then a restricted subscriber, whose
// page opens only after a reason, and the add form. Run by portal/admin_subscribers_browser_test.go.
//
// On a 390px phone first, then at 1280px; each page must never scroll sideways.
//
// Environment: E2E_EMAIL, E2E_PASSWORD (an admin without TOTP), E2E_USER (a subscriber
// named "Alice Wanjiru" with a wallet at 0.00), E2E_RESTRICTED (a subscriber named
// "… Otieno" who restricted processing), CHROMIUM (default /usr/bin/chromium),
// E2E_SCREENSHOTS (a directory for subscribers-390.png, subscriber-390.png,
// subscriber-errors-390.png, subscriber-1280.png, subscribers-1280.png and
// receipt-1280.png, statement-1280.png, reason-390.png and new-390.png). Prints one "ok ..." line per check and exits 0, or prints
// "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, signIn, phone } from './browser.mjs';

const base = process.argv[2];
const { E2E_EMAIL: email, E2E_PASSWORD: password, E2E_USER: user, E2E_RESTRICTED: restricted, E2E_SCREENSHOTS: shots } = process.env;
if (!base || !email || !password || !user || !restricted) {
  console.log('FAIL: usage: E2E_EMAIL=… E2E_PASSWORD=… E2E_USER=… E2E_RESTRICTED=… node subscribers.mjs URL');
  process.exit(2);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

// noSideScroll: the page never needs to scroll sideways.
async function noSideScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

// text is an element's text with its spaces folded.
async function text(locator) {
  return ((await locator.textContent()) || '').replace(/\s+/g, ' ').trim();
}

await run(phone, async (page) => {
  await signIn(page, base, email, password, '**/admin');
  const menu = page.locator('header nav a', { hasText: 'Subscribers' });
  check(await menu.count() === 1, 'the admin menu has Subscribers');
  await Promise.all([page.waitForURL('**/admin/subscribers'), menu.click()]);

  await page.fill('input[name=q]', user);
  await Promise.all([page.waitForURL('**/admin/subscribers?**'), page.click('form.filters button[type=submit]')]);
  const row = page.locator(`tr.subscriber[data-username="${user}"]`);
  check(await row.count() === 1, 'searching finds ' + user);
  check((await text(row)).includes('Alice Wanjiru'), 'the row shows the name');
  check(await noSideScroll(page), 'the directory fits a 390px phone');
  await shot(page, 'subscribers-390');

  await Promise.all([page.waitForURL('**/admin/subscribers/*'), row.locator('a').first().click()]);
  check((await text(page.locator('h1'))).startsWith(user), 'the subscriber page is headed ' + user);
  check((await text(page.locator('#balance'))) === '0.00 USD', 'the balance reads 0.00 USD');
  check(await noSideScroll(page), 'the subscriber page fits a 390px phone');
  const save = page.locator('#profile button[type=submit]');
  const sbox = await save.boundingBox();
  check(sbox && sbox.height >= 44, 'the Save button is at least 44px tall');
  await shot(page, 'subscriber-390');

  // Two bad fields: both named, each next to its input, what was typed kept.
  await page.fill('#profile input[name=email]', 'alice-at-example');
  await page.fill('#profile input[name=phone]', '0712');
  await Promise.all([page.waitForLoadState('load'), save.click()]);
  const summary = await text(page.locator('#profile .error'));
  check(summary.includes('Email:') && summary.includes('Phone:'), 'the summary names Email and Phone');
  check(await page.evaluate(() => location.hash) === '#profile', 'the answer opens at the form');
  check(await page.locator('#email-error').isVisible() && await page.locator('#phone-error').isVisible(), 'each bad field has its message');
  check(await page.locator('#profile input[name=email]').getAttribute('aria-invalid') === 'true', 'the email input is marked invalid');
  check(await page.locator('#profile input[name=email]').inputValue() === 'alice-at-example', 'what was typed is kept');
  check(await noSideScroll(page), 'the refused form fits a 390px phone');
  await shot(page, 'subscriber-errors-390');

  await page.fill('#profile input[name=email]', 'alice@example.org');
  await page.fill('#profile input[name=phone]', '+254 700 000 001');
  await page.fill('#profile input[name=static_ip]', '10.0.0.9');
  await Promise.all([page.waitForURL('**done=saved#profile'), page.locator('#profile button[type=submit]').click()]);
  check((await text(page.locator('#profile .notice'))) === 'Changes saved.', 'the profile is saved');
  check(await page.locator('#profile input[name=phone]').inputValue() === '+254700000001', 'the phone is stored in E.164');

  // A double click on the top-up sends the form twice with one key: credited once.
  await page.fill('#topup input[name=amount]', '25.00');
  await page.fill('#topup input[name=note]', 'cash at the office');
  await Promise.all([page.waitForURL(/done=(credited|replayed)/), page.locator('#topup button[type=submit]').dblclick()]);
  check((await text(page.locator('#balance'))) === '5.00 USD', 'after a double click the balance is 5.00 USD (25.00 in, 20.00 for the month)');
  check((await text(page.locator('#wallet .notice'))).includes('RCT-'), 'the wallet card names the receipt');
  check((await text(page.locator('#subscription-state'))) === 'subscription active', 'the month is paid: subscription active');
  await shot(page, 'subscriber-topup-390');

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.reload();
  check(await noSideScroll(page), 'the subscriber page fits 1280px');
  const cols = await page.locator('.columns > .column').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().left)));
  check(cols.length === 2 && cols[0] !== cols[1], 'at 1280px the page has two columns');
  await shot(page, 'subscriber-1280');

  const receipt = page.locator('#documents a', { hasText: 'RCT-' }).first();
  await Promise.all([page.waitForURL('**/admin/invoices/RCT-*'), receipt.click()]);
  check((await text(page.locator('h1'))) === 'Receipt', 'the receipt page is headed Receipt');
  check((await text(page.locator('#total'))) === '25.00 USD', 'the receipt is for 25.00 USD');
  const sheet = await page.locator('.sheet').boundingBox();
  check(sheet && sheet.width <= 800, 'the receipt is an A4-wide sheet: ' + Math.round(sheet.width) + 'px');
  await shot(page, 'receipt-1280');
  await page.emulateMedia({ media: 'print' });
  check(!(await page.locator('nav.screen-only').isVisible()), 'printing leaves the navigation out');
  await page.emulateMedia({ media: 'screen' });

  await page.goBack();
  await Promise.all([page.waitForURL('**/statement?**'), page.click('.statement-form button[type=submit]')]);
  check((await text(page.locator('h1'))) === 'Statement of account', 'the statement page is headed Statement of account');
  check((await text(page.locator('#opening'))) === '0.00 USD' && (await text(page.locator('#closing'))) === '5.00 USD',
    'the statement opens at 0.00 USD and closes at 5.00 USD');
  check(await noSideScroll(page), 'the statement fits 1280px');
  await shot(page, 'statement-1280');

  await page.goto(base + '/admin/subscribers');
  check(await noSideScroll(page), 'the directory fits 1280px');
  await shot(page, 'subscribers-1280');

  // A restricted subscriber: the row hides the name, the page asks for a reason first.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + '/admin/subscribers?q=' + restricted);
  const rrow = page.locator(`tr.subscriber[data-username="${restricted}"]`);
  check((await text(rrow)).includes('restricted') && !(await text(rrow)).includes('Otieno'), 'the restricted row hides the name');
  await Promise.all([page.waitForURL('**/admin/subscribers/*'), rrow.locator('a').first().click()]);
  check((await text(page.locator('h1'))) === 'Reason needed', 'the restricted page asks for a reason');
  check(await noSideScroll(page), 'the reason form fits a 390px phone');
  await shot(page, 'reason-390');
  await page.fill('input[name=reason]', 'customer called about a payment');
  await Promise.all([page.waitForURL('**/admin/subscribers/*'), page.click('#reason-form button[type=submit]')]);
  check((await text(page.locator('h1'))).includes('Otieno'), 'with a reason the page shows');
  check((await text(page.locator('#restricted'))).includes('customer called about a payment'), 'the page says what it was opened for');

  await page.goto(base + '/admin/subscribers/new');
  check(await noSideScroll(page), 'the add form fits a 390px phone');
  await shot(page, 'new-390');
  console.log('OK found, edited, topped up once, printed the receipt');
});
