// The registration pages in a real browser (Debian's Chromium, driven by playwright-core): register,
// confirm from the mailed link, get previous answers filled in after the magic link, see a full
// programme closed. Run by tests/registration/test_browser_service.py, which starts the service and an
// SMTP server that writes each mail it receives into MAIL_DIR.
// Usage: node registration.mjs <base url> <mail dir> <screenshot dir> <staff token>
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [base, mailDir, shots, staffToken] = process.argv.slice(2);
const EMAIL = 'anna.ivanova@example.org';

function decoded(raw) {
  // quoted-printable bodies: soft line breaks and =XX escapes
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

async function mailedLink(kind, count) {
  // The SMTP server writes mail N as N.eml; wait (bounded) for the count-th mail to this address.
  for (let i = 0; i < 200; i++) {
    const mails = fs.readdirSync(mailDir).sort((a, b) => parseInt(a) - parseInt(b))
      .map(name => decoded(fs.readFileSync(path.join(mailDir, name), 'latin1')))
      .filter(text => text.includes(EMAIL) && text.includes(`/${kind}/`));
    if (mails.length >= count) return mails[count - 1].match(new RegExp(`https?://\\S+/${kind}/\\S+`))[0];
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  throw new Error(`no ${kind} mail to ${EMAIL}`);
}

const shot = (page, name) => page.screenshot({ path: path.join(shots, `registration-${name}.png`), fullPage: true });
const active = page => page.evaluate(() => document.activeElement && document.activeElement.id);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + '/');
  await shot(page, 'index');
  await page.getByRole('link', { name: 'Data Analysis with Python' }).click();
  await page.waitForSelector('h1:text("Data Analysis with Python")');

  // Keyboard only: Tab from the page's top reaches the first field (the hidden spam trap is skipped).
  let steps = 0;
  while ((await active(page)) !== 'f-first_name' && steps++ < 15) await page.keyboard.press('Tab');
  assert.equal(await active(page), 'f-first_name');
  await page.keyboard.type('Anna');
  await page.keyboard.press('Tab');
  assert.equal(await active(page), 'f-last_name');
  await page.keyboard.type('Ivanova');
  // Send with Enter in a field: the server's error summary is announced and its links lead to the fields.
  await page.keyboard.press('Enter');
  const summary = page.locator('#error-summary[role=alert]');
  await summary.waitFor();
  assert.match(await summary.innerText(), /E-mail address: Please fill this in\./);
  await shot(page, 'errors');
  await summary.getByRole('link', { name: /E-mail address/ }).click();
  assert.equal(await active(page), 'f-email');
  assert.equal(await page.getAttribute('#f-email', 'aria-invalid'), 'true');

  await page.keyboard.type(EMAIL);  // the summary's link put the focus there
  await page.getByLabel('Phone').fill('+7 495 123-45-67');
  await page.getByLabel('Date of birth').fill('1990-04-01');
  await page.getByLabel('Your level').selectOption('intermediate');
  await page.getByRole('group', { name: /Topics/ }).getByLabel('Statistics').check();
  await page.getByLabel(/I agree that my answers are stored/).check();
  await page.getByRole('button', { name: 'Register' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('h1:text("Check your inbox")');
  await shot(page, 'sent');

  await page.goto(await mailedLink('confirm', 1));
  await shot(page, 'confirm');
  await page.getByRole('button', { name: 'Confirm my registration' }).click();
  await page.waitForSelector('h1:text("Your registration is confirmed")');
  await shot(page, 'confirmed');

  // A second registration, in a fresh browser: previous answers only after the magic link.
  const second = await (await browser.newContext({ locale: 'en-GB' })).newPage();
  await second.goto(base + '/');
  await second.getByRole('link', { name: 'Russian for Beginners' }).click();
  const russianForm = second.url();
  assert.equal(await second.inputValue('#f-first_name'), '');
  await second.getByLabel('Your e-mail address').fill(EMAIL);
  await second.getByRole('button', { name: 'Get my previous answers' }).click();
  await second.waitForSelector('text=If you registered for this project before');
  await second.goto(await mailedLink('previous', 1));
  await second.getByRole('button', { name: 'Fill in my previous answers' }).click();
  await second.waitForSelector('text=We have filled in your previous answers');
  assert.equal(await second.inputValue('#f-first_name'), 'Anna');
  assert.equal(await second.inputValue('#f-email'), EMAIL);
  assert.equal(await second.inputValue('#f-level'), 'intermediate');
  assert.equal(await second.isChecked('#f-topics'), true);
  assert.equal(await second.isChecked('#f-consent_data_processing'), false);
  await shot(second, 'prefilled');
  await second.getByLabel(/I agree that my answers are stored/).check();
  await second.getByRole('button', { name: 'Register' }).click();
  await second.waitForSelector('h1:text("Check your inbox")');

  // Its one place is taken now: the list shows it full, without a link, and its page says so.
  await second.goto(base + '/');
  const full = second.locator('li.programme', { hasText: 'Russian for Beginners' });
  assert.match(await full.innerText(), /Full/);
  assert.equal(await full.locator('a').count(), 0);
  await shot(second, 'full');
  const closed = await second.goto(russianForm);
  assert.equal(closed.status(), 409);
  await second.waitForSelector('text=This programme is full');

  // Russian, on a phone.
  const phone = await (await browser.newContext({ locale: 'ru-RU', viewport: { width: 375, height: 740 },
    deviceScaleFactor: 2, isMobile: true, hasTouch: true })).newPage();
  await phone.goto(base + '/');
  await phone.getByRole('link', { name: 'Data Analysis with Python' }).click();
  await phone.waitForSelector('text=Регистрация');
  await shot(phone, 'form-ru-phone');

  // Staff: the dashboard after signing in with the admin token.
  const staff = await (await browser.newContext({ locale: 'en-GB', viewport: { width: 1200, height: 600 } })).newPage();
  await staff.goto(base + '/staff/');
  await staff.getByLabel('Admin token').fill(staffToken);
  await staff.getByRole('button', { name: 'Sign in' }).click();
  await staff.waitForSelector('h1:text("Registrations dashboard")');
  await shot(staff, 'dashboard');
  console.log('browser test passed');
} finally {
  await browser.close();
}
