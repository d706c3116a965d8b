// my.mjs URL — a subscriber signs in through /login with its username in headless
// Chromium, looks at /my (profile, live session, the 30-day usage graph drawn as inline
// SVG) on a 390px phone and at 1280px, and turns marketing on and SMS reminders off on
// /my/privacy. Run by portal/my_browser_test.go.
//
// Environment: E2E_USER, E2E_PASSWORD (a subscriber with a portal password and no
// policy to accept), CHROMIUM (default /usr/bin/chromium), E2E_SCREENSHOTS (a directory
// for my-390.png, my-1280.png and privacy-390.png). Prints one "ok ..." line per check
// and exits 0, or prints "FAIL: ..." and exits 1.
import { join } from 'node:path';
import { run, check, signIn, phone } from './browser.mjs';

const base = process.argv[2];
const { E2E_USER: user, E2E_PASSWORD: password, E2E_SCREENSHOTS: shots } = process.env;
if (!base || !user || !password) {
  console.log('FAIL: usage: E2E_USER=… E2E_PASSWORD=… node my.mjs URL');
  process.exit(2);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

async function noSideScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

await run(phone, async (page) => {
  await signIn(page, base, user, password, '**/my');
  check(page.url().endsWith('/my'), 'the subscriber lands on /my');
  check((await page.locator('h1').textContent()).trim() === 'My account', 'the page is My account');
  const graph = page.locator('svg.usage-graph');
  check(await graph.count() === 1, 'the usage graph is an inline SVG');
  check(await graph.locator('g.day').count() === 30, 'the graph has 30 day bars');
  check(await page.locator('script').count() === 0, 'the page runs no script');
  const box = await graph.boundingBox();
  check(box && box.width > 300 && box.x + box.width <= 390, 'the graph fits a 390px phone: ' + Math.round(box.width) + 'px wide');
  const ylabel = await graph.locator('text.ylabel').last().boundingBox();
  check(ylabel && ylabel.height >= 9, 'the axis labels are readable: ' + ylabel.height.toFixed(1) + 'px high');
  const labels = await graph.locator('text.ylabel').allTextContents();
  check(labels.some((l) => / [kMGT]?B$/.test(l)), 'the y axis has human units: ' + labels.join(', '));
  check((await page.locator('.live-session').count()) === 1, 'the live session is listed');
  check(await noSideScroll(page), '/my fits a 390px phone');
  await shot(page, 'my-390');

  await page.goto(base + '/my/privacy');
  const marketing = page.locator('input[name=marketing]');
  const sms = page.locator('input[name=reminders_sms]');
  check(!(await marketing.isChecked()), 'marketing starts off');
  check(await sms.isChecked(), 'SMS reminders start on');
  await marketing.check();
  await sms.uncheck();
  await Promise.all([page.waitForLoadState('load'), page.click('#consents button[type=submit]')]);
  check((await page.locator('.notice').textContent()).includes('saved'), 'the choices are saved');
  await page.goto(base + '/my/privacy');
  check(await page.locator('input[name=marketing]').isChecked(), 'marketing is on after a reload');
  check(!(await page.locator('input[name=reminders_sms]').isChecked()), 'SMS reminders are off after a reload');
  check((await page.locator('.history li').count()) === 1, 'the history shows the change');
  check(await noSideScroll(page), '/my/privacy fits a 390px phone');
  await shot(page, 'privacy-390');

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(base + '/my');
  check(await noSideScroll(page), '/my fits 1280px');
  await shot(page, 'my-1280');
  console.log('OK signed in, saw the graph, changed consents');
});
