// ops.mjs URL — the operator's pages in headless Chromium: the dashboard (its numbers
// are the database's, its charts are drawn, and it refreshes without a reload), the
// sessions page's Disconnect (the router's ACK shown), and a plan's edit with the CoA
// offer. Run by portal/ops_browser_test.go, which seeds the database and a fake NAS.
//
// Environment: E2E_EMAIL, E2E_PASSWORD (an admin without TOTP), E2E_EXPECT (JSON: element
// id → the text the database says it holds), E2E_PLAN (the id of the plan to edit),
// CHROMIUM, and E2E_SCREENSHOTS (a directory for PNGs at 1280px and 390px). Prints one
// "ok ..." line per check and exits 0, or "FAIL: ..." and exits 1. It prints "ok waiting
// for a new session" and waits for the test to add one.
import { join } from 'node:path';
import { run, check, signIn } from './browser.mjs';

const base = process.argv[2];
const { E2E_EMAIL: email, E2E_PASSWORD: password, E2E_EXPECT: expectJSON, E2E_PLAN: plan, E2E_SCREENSHOTS: shots } = process.env;
if (!base || !email || !password || !expectJSON || !plan) {
  console.log('FAIL: usage: E2E_EMAIL=… E2E_PASSWORD=… E2E_EXPECT=… E2E_PLAN=… node ops.mjs URL');
  process.exit(2);
}
const expect = JSON.parse(expectJSON);

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

async function noSideScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

async function text(page, sel) {
  return ((await page.textContent(sel)) || '').trim();
}

// both checks the page at 1280px and 390px wide, with a screenshot of each.
async function both(page, name) {
  await page.setViewportSize({ width: 1280, height: 900 });
  check(await noSideScroll(page), `the ${name} page fits 1280px`);
  await shot(page, name + '-1280');
  await page.setViewportSize({ width: 390, height: 844 });
  check(await noSideScroll(page), `the ${name} page fits a 390px phone`);
  await shot(page, name + '-390');
  await page.setViewportSize({ width: 1280, height: 900 });
}

await run({ viewport: { width: 1280, height: 900 } }, async (page) => {
  // Console errors (a CSP refusal is one) and failed loads, but the favicon browsers ask for.
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(r.status() + ' ' + r.url()); });
  await signIn(page, base, email, password, '**/admin');

  // The dashboard: the database's numbers, three charts with their bars.
  for (const [id, want] of Object.entries(expect)) {
    const got = await text(page, '#' + id);
    check(got === want, `#${id} shows ${got} (the database: ${want})`);
  }
  for (const id of ['chart-sessions', 'chart-auth', 'chart-revenue']) {
    const svg = page.locator('svg#' + id);
    const box = await svg.boundingBox();
    const bars = await svg.locator('rect.bar').count();
    check(box && box.width > 300 && box.height > 100 && bars > 0, `${id} is drawn: ${bars} bars, ${Math.round(box.width)}px wide`);
  }
  await both(page, 'dashboard');
  check(errors.length === 0, 'no console errors (the CSP let the script run): ' + errors.join('; '));

  // It refreshes without a reload: a session the test adds now shows up.
  await page.evaluate(() => { window.stillHere = true; });
  const before = parseInt(await text(page, '#online-total'), 10);
  console.log('ok waiting for a new session');
  await page.waitForFunction((n) => document.querySelector('#online-total').textContent.trim() === String(n), before + 1, { timeout: 20000 });
  check(await page.evaluate(() => window.stillHere === true), `the dashboard refreshed without a reload: ${before + 1} online`);
  check(/core\s*4/.test(await text(page, '#online-by-nas')), 'the refreshed list by NAS counts the new session');

  // Sessions: Disconnect bob's, and the router's answer shows.
  await page.goto(base + '/admin/sessions');
  const row = page.locator('tr[data-session="core/b1"]');
  check(await row.count() === 1, "bob's session is listed online");
  check((await row.textContent()).includes('10M/10M'), 'with its plan’s rate');
  await both(page, 'sessions');
  await page.setViewportSize({ width: 390, height: 844 });
  await Promise.all([page.waitForURL('**/admin/sessions/disconnect'), row.locator('button').click()]);
  const result = await text(page, '#disconnect-result');
  check(result.includes('ACK'), 'the Disconnect shows the router’s answer: ' + result);
  await shot(page, 'sessions-disconnected-390');
  await page.setViewportSize({ width: 1280, height: 900 });

  // A plan's rate change offers a CoA to its sessions online, and shows each answer.
  await page.goto(`${base}/admin/plans/${plan}`);
  await both(page, 'plan-edit');
  await page.fill('input[name=rate_limit]', '20M/20M');
  await Promise.all([page.waitForURL('**/coa?**'), page.click('#plan-form button[type=submit]')]);
  check(await text(page, '#coa-online') === '2', 'the offer counts 2 sessions online on the plan');
  await both(page, 'plan-coa-offer');
  await Promise.all([page.waitForLoadState('load'), page.click('#coa-send')]);
  const acks = await page.locator('tr[data-result=ack]').count();
  check(acks === 2, `the results list ${acks} ACKs`);
  await both(page, 'plan-coa-results');

  // The other operator pages fit both widths too.
  for (const [path, name] of [['/admin/plans', 'plans'], ['/admin/nas', 'nas'], ['/admin/nas/core', 'nas-core'], ['/admin/webhooks', 'webhooks'], ['/admin/resellers', 'resellers'], ['/admin/vouchers', 'vouchers'], ['/admin/users', 'users']]) {
    await page.goto(base + path);
    await both(page, name);
  }
  check(errors.length === 0, 'no failed loads or console errors on any page: ' + errors.join('; '));
  console.log('OK dashboard, disconnect and plan CoA');
});
