// edit.mjs URL — the operator's list, add, edit and delete pages in headless Chromium:
// a NAS's page with its RADIUS counters and RouterOS health, a NAS refused with its bad
// field named, then added, changed and deleted; a plan added (a bad price named first),
// deleted, and a plan in use kept with the reason; a reseller added and edited; vouchers
// generated and one revoked; a portal user added; an API token made (shown once) and
// revoked; a webhook endpoint added (its secret shown once); the sessions searched.
// Run by portal/edit_browser_test.go, which seeds the database and checks it afterwards.
//
// Environment: E2E_EMAIL, E2E_PASSWORD (an admin without TOTP), E2E_CODE (a voucher
// code to revoke), E2E_VOUCHER_PLAN (a hotspot plan to generate vouchers of), CHROMIUM.
// Prints one "ok ..." line per check and exits 0, or "FAIL: ..." and exits 1.
import { run, check, signIn } from './browser.mjs';

const base = process.argv[2];
const { E2E_EMAIL: email, E2E_PASSWORD: password, E2E_CODE: code, E2E_VOUCHER_PLAN: voucherPlan } = process.env;
if (!base || !email || !password || !code || !voucherPlan) {
  console.log('FAIL: usage: E2E_EMAIL=… E2E_PASSWORD=… E2E_CODE=… E2E_VOUCHER_PLAN=… node edit.mjs URL');
  process.exit(2);
}

async function text(page, sel) {
  return ((await page.textContent(sel)) || '').replace(/\s+/g, ' ').trim();
}

// submit clicks the submit button of form sel and waits for the page that answers.
async function submit(page, sel) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(sel + ' button[type=submit]')]);
}

// refused checks that the page's error names field and that its input is marked.
async function refused(page, field, named, what) {
  const err = await text(page, 'p.error');
  const marked = await page.locator(`[name="${field}"][aria-invalid="true"]`).count();
  check(err.startsWith(named + ': ') && marked === 1, `${what}: the error names ${named} and marks the field (${err})`);
}

await run({ viewport: { width: 1280, height: 900 } }, async (page) => {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  await signIn(page, base, email, password, '**/admin');

  // A NAS's page: this server's counters and the router's health.
  await page.goto(base + '/admin/nas/core');
  for (const [id, want] of Object.entries({ 'nas-requests': '40', 'nas-accepts': '30', 'nas-rejects': '6', 'nas-accounting': '3', 'nas-drops': '1', 'router-version': '7.18.2 (stable)', 'router-state': 'up' })) {
    check(await text(page, '#' + id) === want, `the NAS page shows #${id} ${want}`);
  }
  check(/seconds? ago/.test(await text(page, '#last-request')), 'the NAS page shows its last request: ' + await text(page, '#last-request'));
  check((await text(page, '#router-health')).includes('RB5009'), "the NAS page shows the router's board");

  // Change it: a bad CoA port is named, a good one is saved.
  await page.fill('#nas-form input[name=coa_port]', '70000');
  await submit(page, '#nas-form');
  await refused(page, 'coa_port', 'coa_port', 'a CoA port of 70000');
  await page.fill('#nas-form input[name=coa_port]', '1700');
  await submit(page, '#nas-form');
  check(page.url().endsWith('/admin/nas/core?saved=1') && await page.inputValue('#nas-form input[name=coa_port]') === '1700', 'the NAS is saved with CoA port 1700');

  // Add one: a short secret is named, then it is added; then deleted by its name.
  await page.goto(base + '/admin/nas');
  await page.fill('#nas-form input[name=name]', 'branch');
  await page.fill('#nas-form input[name=address]', '10.9.9.9');
  await page.fill('#nas-form input[name=secret]', 'short');
  await submit(page, '#nas-form');
  await refused(page, 'secret', 'secret', 'a short secret');
  check(await page.inputValue('#nas-form input[name=name]') === 'branch', 'the refused form keeps what was typed');
  await page.fill('#nas-form input[name=secret]', 'a-long-branch-secret-1');
  await submit(page, '#nas-form');
  check(await page.locator('tr[data-nas=branch]').count() === 1, 'the new NAS is listed');
  await Promise.all([page.waitForURL('**/admin/nas/branch'), page.click('tr[data-nas=branch] a >> nth=0')]);
  await page.fill('#nas-delete input[name=confirm]', 'branch');
  await submit(page, '#nas-delete');
  check(page.url().endsWith('/admin/nas') && await page.locator('tr[data-nas=branch]').count() === 0, 'the NAS is deleted once its name is typed');

  // Plans: a bad price named; added as people read it; deleted; one in use kept.
  await page.goto(base + '/admin/plans');
  await page.fill('#plan-form input[name=name]', 'night');
  await page.selectOption('#plan-form select[name=kind]', 'hotspot');
  await page.fill('#plan-form input[name=price]', 'abc');
  await submit(page, '#plan-form');
  await refused(page, 'price', 'price', 'a price of abc');
  await page.fill('#plan-form input[name=price]', '1.50');
  await page.fill('#plan-form input[name=validity]', '1d');
  await page.fill('#plan-form input[name=data_limit]', '2GiB');
  await submit(page, '#plan-form');
  const night = await text(page, 'tr[data-plan=night]');
  check(night.includes('1.50 USD') && night.includes('1 day') && night.includes('2 GiB'), 'the new plan is listed as people read it: ' + night);
  await Promise.all([page.waitForURL('**/admin/plans/*'), page.click('tr[data-plan=night] a')]);
  await page.fill('#plan-delete input[name=confirm]', 'night');
  await submit(page, '#plan-delete');
  check(page.url().endsWith('/admin/plans') && await page.locator('tr[data-plan=night]').count() === 0, 'the unused plan is deleted');
  await Promise.all([page.waitForURL('**/admin/plans/*'), page.click('tr[data-plan=gold] a')]);
  await page.fill('#plan-delete input[name=confirm]', 'gold');
  await submit(page, '#plan-delete');
  check((await text(page, 'p.error')).includes('cannot be deleted: subscribers are on it'), 'a plan in use is kept, with the reason');

  // Resellers: added, then edited.
  await page.goto(base + '/admin/resellers');
  await page.fill('form[action="/admin/resellers"] input[name=name]', 'Kiosk');
  await page.fill('form[action="/admin/resellers"] input[name=credit_limit]', '5.00');
  await submit(page, 'form[action="/admin/resellers"]');
  const kiosk = page.locator('#resellers tr', { hasText: 'Kiosk' });
  check(await kiosk.count() === 1 && (await kiosk.textContent()).includes('5.00 USD'), 'the new reseller is listed with its credit limit');
  await Promise.all([page.waitForURL('**/admin/resellers/*'), kiosk.locator('a', { hasText: 'Edit' }).click()]);
  await page.fill('#reseller-form input[name=email]', 'kiosk@example.com');
  await page.fill('#reseller-form input[name=credit_limit]', 'lots');
  await submit(page, '#reseller-form');
  await refused(page, 'credit_limit', 'credit-limit', 'a credit limit of lots');
  await page.fill('#reseller-form input[name=credit_limit]', '10.00');
  await page.selectOption('#reseller-form select[name=status]', 'suspended');
  await submit(page, '#reseller-form');
  const edited = await text(page, '#resellers tr:has-text("Kiosk")');
  check(edited.includes('kiosk@example.com') && edited.includes('suspended') && edited.includes('10.00 USD'), 'the reseller is saved: ' + edited);

  // Vouchers: a batch generated (the job's progress page), one voucher revoked.
  await page.goto(base + '/admin/vouchers');
  await page.selectOption('form[action="/admin/vouchers"][method=post] select[name=plan]', voucherPlan);
  await page.fill('form[action="/admin/vouchers"][method=post] input[name=count]', '3');
  await Promise.all([page.waitForURL('**/admin/jobs/*'), page.click('form[action="/admin/vouchers"][method=post] button[type=submit]')]);
  await page.waitForSelector('#batch:not([hidden])');
  check(/^Batch \d+ is ready: 3 vouchers\.$/.test(await text(page, '#status')), 'the generation job finishes on its page: ' + await text(page, '#status'));
  await Promise.all([page.waitForURL('**/admin/batches/*/print'), page.click('#batch')]);
  check(true, 'the job links to the batch’s print page');
  await page.goto(base + '/admin/vouchers');
  const batches = await page.locator('#batches tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim()).join('|')));
  check(batches.some((b) => b.includes(`|${voucherPlan}|3|`)), 'the batch of 3 is listed: ' + batches[1]);
  await page.fill('#search input[name=code]', code);
  await Promise.all([page.waitForURL('**/admin/vouchers?code=*'), page.click('#search button[type=submit]')]);
  check(await text(page, '#state') === 'new', 'the code is found, new');
  await submit(page, '#voucher form');
  await page.goto(base + '/admin/vouchers?code=' + encodeURIComponent(code));
  check(await text(page, '#state') === 'revoked', 'the voucher is revoked');

  // Portal users: a bad email named, then an account added.
  await page.goto(base + '/admin/users');
  await page.fill('#user-form input[name=email]', 'not-an-address');
  await page.fill('#user-form input[name=password]', 'shop-password-1');
  await page.selectOption('#user-form select[name=role]', 'reseller');
  await page.fill('#user-form input[name=reseller]', 'Kiosk');
  await submit(page, '#user-form');
  await refused(page, 'email', 'email', 'a bad email');
  check(await page.inputValue('#user-form input[name=password]') === '', 'the refused form does not send the password back');
  await page.fill('#user-form input[name=email]', 'kiosk-staff@example.com');
  await page.fill('#user-form input[name=password]', 'shop-password-1');
  await submit(page, '#user-form');
  const staff = page.locator('li.user[data-email="kiosk-staff@example.com"]');
  check(await staff.count() === 1 && (await staff.textContent()).includes('sells for Kiosk'), 'the new reseller account is listed');

  // API tokens: made and shown once, then revoked.
  await page.goto(base + '/admin/tokens');
  await page.fill('form[action="/admin/tokens"] input[name=name]', 'erp');
  await page.selectOption('form[action="/admin/tokens"] select[name=scope]', 'write');
  await page.fill('form[action="/admin/tokens"] input[name=expires]', '90d');
  await submit(page, 'form[action="/admin/tokens"]');
  const token = await text(page, '#new-token');
  check(token.startsWith('tg_'), 'the token is shown once it is made');
  await page.goto(base + '/admin/tokens');
  check(!(await page.content()).includes(token), 'the token is not shown again');
  const erp = page.locator('tr', { hasText: 'erp' });
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), erp.locator('button').click()]);
  check((await text(page, 'tr:has-text("erp")')).includes('revoked'), 'the token is revoked');

  // Webhooks: a bad URL named, then an endpoint whose secret is shown once.
  await page.goto(base + '/admin/webhooks');
  await page.fill('#webhook-form input[name=url]', 'ftp://x');
  await page.check('#webhook-form input[name="event:session.start"]');
  await submit(page, '#webhook-form');
  await refused(page, 'url', 'url', 'an ftp URL');
  await page.fill('#webhook-form input[name=url]', 'https://hooks.example.com/tollgate');
  await page.check('#webhook-form input[name="event:payment.received"]');
  await submit(page, '#webhook-form');
  const secret = await text(page, '#secret');
  check(secret.startsWith('whsec_'), 'the signing secret is shown once the endpoint is added');
  await page.goto(base + '/admin/webhooks');
  check(!(await page.content()).includes(secret) && (await text(page, '#endpoints')).includes('https://hooks.example.com/tollgate'), 'the endpoint is listed, its secret not shown again');

  // Sessions: the online list and the history, searched.
  await page.goto(base + '/admin/sessions');
  await page.fill('#session-search input[name=q]', 'bob');
  await Promise.all([page.waitForURL('**/admin/sessions?**'), page.click('#session-search button[type=submit]')]);
  const found = await page.locator('tr[data-session]').evaluateAll((rows) => rows.map((r) => r.dataset.session));
  check(found.join(',') === 'core/b1', 'searching bob online finds his session: ' + found.join(','));
  await page.goto(base + '/admin/sessions?view=history');
  await page.fill('#session-search input[name=q]', 'alice');
  await Promise.all([page.waitForURL('**/admin/sessions?**'), page.click('#session-search button[type=submit]')]);
  const past = await page.locator('tr[data-session]').evaluateAll((rows) => rows.map((r) => r.dataset.session));
  check(past.join(',') === 'core/a1,core/a-old', "the history finds alice's two sessions: " + past.join(','));

  check(errors.length === 0, 'no console errors: ' + errors.join('; '));
  console.log('OK lists, adds, edits and deletes');
});
