// reseller.mjs URL — a reseller buys a batch and cannot overspend: signs a reseller in to
// the tollgate portal at URL in headless Chromium, buys E2E_BUY vouchers, then tries to
// buy E2E_OVERSPEND (more than the wallet holds) and checks that the page refuses and
// the balance stays, then opens the A4 print view of the bought batch and counts its
// cards. Run by portal/reseller_browser_test.go.
//
// Environment: E2E_EMAIL and E2E_PASSWORD (a reseller without TOTP), E2E_PLAN (a plan
// with a reseller price), E2E_BUY and E2E_OVERSPEND (counts), E2E_BALANCE (the balance
// expected after the first purchase, "2.00 USD"), CHROMIUM (default /usr/bin/chromium).
// Prints one "ok ..." line per check and exits 0, or prints "FAIL: ..." and exits 1. It
// never prints a code.
import { run, check, signIn } from './browser.mjs';

const base = process.argv[2];
const { E2E_EMAIL: email, E2E_PASSWORD: password, E2E_PLAN: plan, E2E_BALANCE: balance } = process.env;
const buy = Number(process.env.E2E_BUY);
const overspend = Number(process.env.E2E_OVERSPEND);
if (!base || !email || !password || !plan || !balance || !buy || !overspend) {
  console.log('FAIL: usage: E2E_EMAIL=… E2E_PASSWORD=… E2E_PLAN=… E2E_BUY=… E2E_OVERSPEND=… E2E_BALANCE=… node reseller.mjs URL');
  process.exit(2);
}


await run({ viewport: { width: 1280, height: 900 } }, async (page) => {

  await signIn(page, base, email, password, '**/reseller');
  const signedIn = (await page.textContent('#signed-in') || '').trim();
  check(signedIn === `Signed in as ${email} (reseller).`, 'the reseller page shows: ' + signedIn);

  // Buy: the form posts to /reseller/buy and the answer is the page with a notice.
  await page.selectOption('#buy select[name=plan]', plan);
  await page.fill('#buy input[name=count]', String(buy));
  await Promise.all([page.waitForURL('**/reseller/buy'), page.click('#buy button[type=submit]')]);
  const notice = (await page.textContent('.notice') || '').trim();
  const m = notice.match(/^Bought batch (\d+): (\d+) vouchers\.$/);
  check(m && Number(m[2]) === buy, `the notice says: ${notice}`);
  const batch = m[1];
  check((await page.textContent('#balance')).trim() === balance, `the balance shows ${balance}`);
  check(await page.locator(`#batches a[href="/reseller/batches/${batch}/print?layout=a4"]`).count() === 1, 'the batch links to its A4 print view');

  // Overspend: the page refuses and the balance stays.
  await page.goto(base + '/reseller');
  await page.selectOption('#buy select[name=plan]', plan);
  await page.fill('#buy input[name=count]', String(overspend));
  const [resp] = await Promise.all([page.waitForResponse(r => r.url().endsWith('/reseller/buy') && r.request().method() === 'POST'), page.click('#buy button[type=submit]')]);
  await page.waitForLoadState('load');
  check(resp.status() === 402, `buying ${overspend} answers ${resp.status()}`);
  const error = (await page.textContent('.error') || '').trim();
  check(error.includes('Your balance does not cover this purchase; nothing was bought.'), 'the page shows the not-enough-balance message');
  check((await page.textContent('#balance')).trim() === balance, `the balance still shows ${balance}`);
  check(await page.locator('.notice').count() === 0, 'no purchase notice after the refusal');

  // The print view of the bought batch.
  const pr = await page.goto(`${base}/reseller/batches/${batch}/print?layout=a4`);
  check(pr.status() === 200, 'the print view answers 200');
  const cards = await page.locator('section.card').count();
  check(cards === buy, `the print view shows ${cards} cards`);
  const codes = await page.locator('section.card .code').allTextContents();
  check(codes.length === buy && codes.every(c => c.trim().length > 0), 'every card shows a code');
  console.log('OK reseller bought a batch, could not overspend and printed it');
});
