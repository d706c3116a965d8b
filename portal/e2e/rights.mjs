// rights.mjs URL — a subscriber with a paid subscription signs in with its username in
// headless Chromium and uses the money parts and the privacy center: /my shows the
// plan, the paid period and the balance with the invoices and receipts, an invoice
// opens as a printable page, /my/topup shows the operator's paybill instructions (or a
// provider's amount form when E2E_PROVIDER is set), a consent is toggled, and an
// erasure is asked for with the password and then cancelled. Each page is checked on a
// 390px phone and at 1280px. Run by portal/my_rights_browser_test.go.
//
// Environment: E2E_USER, E2E_PASSWORD, CHROMIUM, E2E_SCREENSHOTS (a directory for
// money-390.png, invoice-390.png, topup-390.png, erasure-390.png, money-1280.png,
// privacy-1280.png, invoice-1280.png). Prints one "ok ..." line per check and exits 0,
// or prints "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, signIn, phone } from './browser.mjs';

const base = process.argv[2];
const { E2E_USER: user, E2E_PASSWORD: password, E2E_SCREENSHOTS: shots, E2E_PROVIDER: provider } = process.env;
if (!base || !user || !password) {
  console.log('FAIL: usage: E2E_USER=… E2E_PASSWORD=… node rights.mjs URL');
  process.exit(2);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

async function fits(page, what) {
  check(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), what + ' has no sideways scroll');
}

await run(phone, async (page) => {
  await signIn(page, base, user, password, '**/my');
  check((await page.locator('.sub-plan').textContent()).trim() === 'Fibre 20M', 'the plan is shown');
  check((await page.locator('.sub-state').textContent()).includes('active, paid'), 'the state is active and paid');
  check((await page.locator('.balance').textContent()).includes('30.00 KES'), 'the balance is 30.00 KES');
  const docs = page.locator('ul.docs a');
  check(await docs.count() === 2, 'the invoice and the receipt are listed');
  check(await page.locator('a[href="/my/topup"]').count() === 1, 'a top-up button is there');
  await fits(page, '/my');
  await shot(page, 'money-390');

  const number = (await page.locator('ul.docs a[href*="INV-"]').textContent()).trim();
  await Promise.all([page.waitForURL('**/my/invoices/' + number), page.locator('ul.docs a[href*="INV-"]').click()]);
  check((await page.locator('h1').textContent()).includes('Invoice ' + number), 'the invoice opens: ' + number);
  check((await page.locator('.total').textContent()).includes('20.00 KES'), 'the invoice totals 20.00 KES');
  await page.emulateMedia({ media: 'print' });
  check(!(await page.locator('header.bar').isVisible()), 'printing leaves the navigation out');
  await page.emulateMedia({ media: 'screen' });
  await fits(page, 'the invoice');
  await shot(page, 'invoice-390');

  await page.goto(base + '/my/topup');
  if (provider) {
    // The provider's checkout page, as a fake the browser is given.
    await page.route(provider + '**', (route) => route.fulfill({ contentType: 'text/html', body: '<h1>Fake checkout</h1>' }));
    check(await page.locator('#topup input[name=amount]').count() === 1, 'the top-up asks for an amount');
    await page.fill('#topup input[name=amount]', '15.00');
    await Promise.all([page.waitForLoadState('load'), page.click('#topup button[type=submit]')]);
    check((await page.locator('#checkout-card h2').textContent()).includes('15.00'), 'the checkout is ready');
    await Promise.all([page.waitForURL(provider + '**'), page.click('#checkout')]);
    check(page.url().startsWith(provider), 'the checkout starts at the provider: ' + page.url());
    check((await page.locator('h1').textContent()) === 'Fake checkout', "the provider's page shows");
    await page.goto(base + '/my/topup');
  } else {
    check((await page.locator('.paybill-text').textContent()).includes('paybill 123456'), 'the paybill instructions are shown');
    check((await page.locator('.paybill .account').textContent()).trim() === user, 'with the account to pay to');
  }
  await fits(page, '/my/topup');
  await shot(page, 'topup-390');

  await page.goto(base + '/my/privacy');
  const marketing = page.locator('input[name=marketing]');
  const was = await marketing.isChecked();
  await marketing.setChecked(!was);
  await Promise.all([page.waitForLoadState('load'), page.click('#consents button[type=submit]')]);
  await page.goto(base + '/my/privacy');
  check((await page.locator('input[name=marketing]').isChecked()) === !was, 'the marketing consent toggled');
  check(await page.locator('a[href="/my/privacy/export"]').count() === 1, 'the download button is there');

  await page.fill('#erase-password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#request-erasure')]);
  check((await page.locator('.notice').textContent()).includes('will be erased on'), 'the erasure is scheduled');
  check(await page.locator('#cancel-erasure').count() === 1, 'it can be cancelled');
  check((await page.locator('.erasure-at').textContent()).length > 10, 'its date is shown');
  await fits(page, '/my/privacy with an erasure');
  await shot(page, 'erasure-390');
  await Promise.all([page.waitForLoadState('load'), page.click('#cancel-erasure')]);
  check((await page.locator('.notice').textContent()).includes('cancelled'), 'the erasure is cancelled');
  check(await page.locator('#request-erasure').count() === 1, 'the account can be erased again later');

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(base + '/my');
  await fits(page, '/my at 1280px');
  await shot(page, 'money-1280');
  await page.goto(base + '/my/privacy');
  await fits(page, '/my/privacy at 1280px');
  await shot(page, 'privacy-1280');
  await page.goto(base + '/my/invoices/' + number);
  await shot(page, 'invoice-1280');
  console.log('OK money, top-up, consent, erasure and its cancel');
});
