// print.mjs URL — signs an admin in to the tollgate portal at URL in headless Chromium,
// opens the A4 print view of a voucher batch, checks its cards and QR images, and saves
// it as a PDF. Run by portal/print_browser_test.go.
//
// Environment: E2E_EMAIL and E2E_PASSWORD (an admin without TOTP), E2E_BATCH (the batch
// id), E2E_COUNT (its number of vouchers), E2E_PDF (where to write the PDF), CHROMIUM
// (default /usr/bin/chromium). Prints one "ok ..." line per check and exits 0, or
// prints "FAIL: ..." and exits 1. It never prints a code.
import { statSync } from 'node:fs';
import { run, check, signIn } from './browser.mjs';

const base = process.argv[2];
const { E2E_EMAIL: email, E2E_PASSWORD: password, E2E_BATCH: batch, E2E_PDF: pdf } = process.env;
const count = Number(process.env.E2E_COUNT);
if (!base || !email || !password || !batch || !pdf || !count) {
  console.log('FAIL: usage: E2E_EMAIL=… E2E_PASSWORD=… E2E_BATCH=… E2E_COUNT=… E2E_PDF=… node print.mjs URL');
  process.exit(2);
}


await run({ viewport: { width: 1280, height: 900 } }, async (page) => {

  await signIn(page, base, email, password, '**/admin');
  check(true, 'the admin signed in');

  const resp = await page.goto(`${base}/admin/batches/${batch}/print?layout=a4`);
  check(resp.status() === 200, 'the A4 print view answers 200');
  await page.waitForLoadState('load');
  const cards = await page.locator('section.card').count();
  check(cards === count, `the page shows ${cards} cards`);
  const codes = await page.locator('section.card .code').allTextContents();
  check(codes.length === count && codes.every(c => c.trim().length > 0), 'every card shows a code');
  const qrs = await page.locator('section.card img.qr').evaluateAll(imgs =>
    imgs.map(i => ({ complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, data: i.src.startsWith('data:image/png;base64,') })));
  check(qrs.length === count, `${qrs.length} QR images, one per card`);
  check(qrs.every(q => q.complete && q.w > 0 && q.h > 0 && q.data), 'every QR image is an inline PNG that rendered (naturalWidth > 0)');
  const shown = await page.locator('section.card img.qr').first().boundingBox();
  check(shown && shown.width > 50, 'QR codes are drawn large enough to scan');
  const grid = await page.evaluate(() => getComputedStyle(document.querySelector('.cards')).gridTemplateColumns.split(' ').length);
  check(grid === 3, 'cards sit in a grid of 3 columns');

  await page.emulateMedia({ media: 'print' });
  const nav = await page.locator('nav.screen-only').isVisible();
  check(!nav, 'the navigation is hidden in print');
  await page.pdf({ path: pdf, preferCSSPageSize: true, printBackground: true });
  const size = statSync(pdf).size;
  check(size > 0, 'the PDF was saved (' + size + ' bytes)');
  console.log('OK print view rendered and saved as PDF');
});
