// The admin console end to end, as a member of staff uses it: headless
// Chromium (Debian's, driven by playwright-core) against the stack that
// scripts/e2e.sh started with scripts/run.sh. The tests run in order and
// share one browser: log in, watch a payment made through the API appear on
// the live overview, find it in the list, open it, refund it, see it in the
// day's report, make a review rule and approve a payment it sends to the
// review queue, log out; then a viewer, who is refused the refund. Every
// page is photographed into E2E_RESULTS_DIR.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const URL = process.env.E2E_URL;
const API_KEY = process.env.E2E_API_KEY;
const RESULTS = process.env.E2E_RESULTS_DIR;
const LIVE_MS = 2000; // the issue: a payment on the live overview within 2 s
const WAIT_MS = 15000; // anything else the page waits for

// var/staff-login as run.sh writes it: the email and the password.
function staffLogin(file) {
  const text = readFileSync(file, 'utf8');
  const email = text.match(/[^\s:]+@[^\s]+/)[0];
  const pw = text.match(/password\s*[:=]?\s*(\S+)/i);
  const password = pw ? pw[1] : text.replace(email, '').trim().split(/\s+/).pop();
  return { email, password };
}

async function api(method, path, body) {
  const res = await fetch(URL + path, {
    method,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      'content-type': 'application/json',
      ...(method === 'POST' ? { 'idempotency-key': randomUUID() } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function waitFor(what, fn, ms = WAIT_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let browser;
let context;
let page;
const problems = []; // console errors and page errors: there must be none
// The browser logs a failed request as a console error; the tests that ask
// for a 401 or 403 on purpose set this to that status while they do.
let expectedStatus = 0;
let payment;
let payer;

async function newPage(viewport = { width: 1280, height: 800 }) {
  context = await browser.newContext({ viewport });
  const p = await context.newPage();
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const expected = expectedStatus
      && m.text().includes(`status of ${expectedStatus}`);
    if (!expected) problems.push(`console: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return p;
}

async function shot(name) {
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });
}

async function login({ email, password }) {
  await page.goto(`${URL}/admin/`);
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('logout-button').waitFor({ timeout: WAIT_MS });
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  page = await newPage();
  // Money to move: two accounts of the dev tenant, one funded.
  const a = await api('POST', '/v1/accounts', { currency: 'USD', name: 'E2E payer' });
  const b = await api('POST', '/v1/accounts', { currency: 'USD', name: 'E2E payee' });
  await api('POST', `/v1/accounts/${a.id}/deposits`, { amount: 100000 });
  payer = a.id;
  globalThis.payee = b.id;
});

after(async () => {
  await browser?.close();
});

test('the login page refuses a wrong password with the error message', async () => {
  expectedStatus = 401;
  await page.goto(`${URL}/admin/`);
  await page.getByTestId('login-email').fill('nobody@finsys.test');
  await page.getByTestId('login-password').fill('not-the-password');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-error').waitFor({ timeout: WAIT_MS });
  await shot('01-login-refused');
});

test('staff log in with the login make run printed', async () => {
  await login(staffLogin(process.env.E2E_STAFF_LOGIN));
  expectedStatus = 0;
  await page.locator('[data-testid=stream-status][data-state=open]').waitFor({ timeout: WAIT_MS });
  await page.getByTestId('overview-series-chart').waitFor({ timeout: WAIT_MS });
  await shot('02-overview');
});

test('a payment made through the API appears on the live overview within 2 s', async () => {
  const t0 = Date.now();
  payment = await api('POST', '/v1/payments', {
    from_account: payer, to_account: globalThis.payee, amount: 4321, currency: 'USD',
    description: 'e2e console',
  });
  await page.getByTestId('live-feed').getByText(payment.id).first()
    .waitFor({ timeout: LIVE_MS });
  const took = Date.now() - t0;
  assert.ok(took <= LIVE_MS, `on the overview after ${took} ms`);
  await shot('03-overview-live');
});

test('the payments list filters by account, and the filters are in the URL', async () => {
  await page.getByTestId('nav-payments').click();
  await page.getByTestId('payments-table').waitFor({ timeout: WAIT_MS });
  await page.getByLabel('Account').fill(payer);
  await page.getByTestId('filter-apply').click();
  await waitFor('the URL to carry the filter', async () => page.url().includes(`account=${payer}`));
  const rows = page.getByTestId('payment-row');
  await rows.first().waitFor({ timeout: WAIT_MS });
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), new RegExp(payment.id));
  await shot('04-payments-filtered');
  // The URL alone shows the same list (shareable).
  await page.goto(page.url());
  await page.getByTestId('payment-row').first().waitFor({ timeout: WAIT_MS });
  assert.equal(await page.getByTestId('payment-row').count(), 1);
});

test('the payment detail shows its timeline and refunds it from the page', async () => {
  await waitFor('the payment to settle', async () => {
    const p = await api('GET', `/v1/payments/${payment.id}`);
    return p.status === 'succeeded';
  }, 30000);
  await page.getByTestId('payment-row').first().click();
  await page.getByTestId('payment-summary').waitFor({ timeout: WAIT_MS });
  await page.getByTestId('payment-timeline').getByText(/succeeded/i).first().waitFor({ timeout: WAIT_MS });
  await shot('05-payment-detail');
  await page.getByTestId('refund-button').click();
  await page.getByTestId('confirm-reason').fill('customer asked (e2e)');
  await shot('06-refund-confirm');
  await page.getByTestId('confirm-button').click();
  await page.getByTestId('payment-refunds').getByText(/re_/).first().waitFor({ timeout: WAIT_MS });
  await waitFor('the refund in the timeline', async () => {
    await page.reload();
    await page.getByTestId('payment-timeline').waitFor({ timeout: WAIT_MS });
    return /refund/i.test(await page.getByTestId('payment-timeline').innerText());
  });
  await shot('07-payment-refunded');
});

test('every page renders: accounts, dead letters, tenants, staff, audit', async () => {
  for (const [nav, id, name] of [
    ['nav-accounts', 'accounts-table', '08-accounts'],
    ['nav-dead-letters', 'dead-letters-table', '09-dead-letters'],
    ['nav-tenants', 'tenants-table', '10-tenants'],
    ['nav-staff', 'staff-table', '11-staff'],
    ['nav-reconciliation', 'recon-summary', '11b-reconciliation'],
    ['nav-audit', 'audit-table', '12-audit'],
  ]) {
    await page.getByTestId(nav).click();
    // The list, or its empty state when there is nothing to list.
    await page.locator(`[data-testid=${id}], [data-testid=empty]`).first()
      .waitFor({ timeout: WAIT_MS });
    await page.waitForLoadState('networkidle');
    await shot(name);
  }
  // The refund is in the audit log, under the staff member who made it.
  await page.getByText('payment.refund').first().waitFor({ timeout: WAIT_MS });
});

test('an admin disables a member of staff, then enables them again', async () => {
  await page.getByTestId('nav-staff').click();
  const row = page.getByTestId('staff-row').filter({ hasText: process.env.E2E_VIEWER_EMAIL });
  for (const [button, reason, state] of [
    ['disable-staff-button', 'e2e: left the team', 'disabled'],
    ['enable-staff-button', 'e2e: back again', 'active'],
  ]) {
    await row.getByTestId(button).click();
    await page.getByTestId('confirm-reason').fill(reason);
    await page.getByTestId('confirm-button').click();
    await waitFor(`the viewer ${state}`, async () =>
      (await row.getByTestId('staff-status').innerText()).trim() === state);
    if (state === 'disabled') await shot('12b-staff-disabled');
  }
});

// A call of the admin API from the page, with the session's CSRF token: what
// the console's own calls are. Returns {status, body}.
async function adminCall(method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const s = await (await fetch('/admin/api/session')).json();
    const r = await fetch(p, {
      method: m,
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token,
        ...(m === 'GET' ? {} : { 'idempotency-key': crypto.randomUUID() }) },
      body: b === undefined ? undefined : JSON.stringify(b),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }, [method, path, body]);
}

let tenant; // the dev tenant's id (the API key's)

test('the review queue, reports and risk rules pages render', async () => {
  tenant = (await adminCall('GET', `/admin/api/accounts/${payer}`)).body.tenant;
  tenant = typeof tenant === 'object' ? tenant.id : tenant;
  assert.match(tenant, /^ten_/);
  await page.getByTestId('nav-review').click();
  await page.locator('[data-testid=review-table], [data-testid=empty]').first()
    .waitFor({ timeout: WAIT_MS });
  await shot('12c-review-queue');
  // Today's report has the payment made above (rolled up by the worker).
  await page.getByTestId('nav-reports').click();
  await waitFor('the payment in the report', async () => {
    await page.getByTestId('report-totals').waitFor({ timeout: WAIT_MS });
    const created = await page.locator('[data-testid=report-total][data-figure=payments]').innerText();
    if (/\b[1-9]\d*\b/.test(created.split('\t')[1] ?? created)) return true;
    await page.reload();
    return false;
  });
  await page.getByTestId('report-count-chart').locator('svg').first().waitFor({ timeout: WAIT_MS });
  await page.getByTestId('report-volume-chart').locator('svg').first().waitFor({ timeout: WAIT_MS });
  assert.match(page.url(), /currency=USD|reports$/);
  await shot('12d-reports');
  // The period and currency are in the URL: the page from the URL alone.
  const day = new Date().toISOString().slice(0, 10);
  await page.goto(`${URL}/admin/reports?from=${day}&to=${day}&currency=USD`);
  await page.getByTestId('report-totals').waitFor({ timeout: WAIT_MS });
  // Created today: the one payment of the dev tenant so far, in dollars and cents.
  assert.match(await page.locator('[data-testid=report-total][data-figure=payments]').innerText(),
    /\$43\.21/);
  await page.getByTestId('nav-risk').click();
  await page.getByTestId('empty').first().waitFor({ timeout: WAIT_MS });
  await shot('12e-risk-rules-pick-a-tenant');
});

// Risk rules through the console, and a payment they send to review,
// approved from the queue. Needs the risk rules routes (the risk-api
// branch): skipped only when they answer 404. The review part needs the
// write path (a review rule's payment in requires_review): skipped, saying
// so, when the payment is not put in review.
test('a review rule made on the risk page sends a payment to the queue, approved there', async (t) => {
  expectedStatus = 404;
  const probe = await adminCall('GET', `/admin/api/tenants/${tenant}/risk_rules`);
  await page.waitForTimeout(300); // the browser's log of the 404, if any, comes first
  expectedStatus = 0;
  if (probe.status === 404 && probe.body?.error?.message?.startsWith('Unrecognized request URL')) {
    t.skip('the risk rules routes answer 404 (not merged yet)');
    return;
  }
  assert.equal(probe.status, 200, JSON.stringify(probe.body));
  await page.goto(`${URL}/admin/risk?tenant=${tenant}`);
  await page.locator('[data-testid=rules-table], [data-testid=empty]').first()
    .waitFor({ timeout: WAIT_MS });
  // A rule by the form: metadata e2e_review = yes goes to review.
  await page.getByTestId('new-rule-button').click();
  await page.getByRole('combobox', { name: 'Kind' }).click();
  await page.getByRole('option', { name: /Metadata equals/ }).click();
  await page.getByTestId('rule-name').fill('e2e review');
  await page.getByTestId('rule-key').fill('e2e_review');
  await page.getByTestId('rule-value').fill('yes');
  await page.getByTestId('confirm-reason').fill('e2e: a rule that sends tagged payments to review');
  await shot('12f-risk-rule-form');
  await page.getByTestId('confirm-button').click();
  const row = page.getByTestId('rule-row').filter({ hasText: 'e2e review' });
  await row.waitFor({ timeout: WAIT_MS });
  const rule = await row.getAttribute('data-id');
  // The block list: add an account, see it, remove it.
  await page.getByTestId('add-entry-button').click();
  await page.getByTestId('entry-value').fill(globalThis.payee);
  await page.getByTestId('confirm-reason').fill('e2e: on the list for a moment');
  await page.getByTestId('confirm-button').click();
  const entry = page.getByTestId('entry-row').filter({ hasText: globalThis.payee });
  await entry.waitFor({ timeout: WAIT_MS });
  await shot('12g-risk-rules');
  await entry.getByTestId('remove-entry-button').click();
  await page.getByTestId('confirm-reason').fill('e2e: off the list again');
  await page.getByTestId('confirm-button').click();
  await entry.waitFor({ state: 'detached', timeout: WAIT_MS });

  const flagged = await api('POST', '/v1/payments', {
    from_account: payer, to_account: globalThis.payee, amount: 777, currency: 'USD',
    description: 'e2e review', metadata: { e2e_review: 'yes' },
  });
  try {
    if (flagged.status !== 'requires_review') {
      t.skip(`the write path did not put the payment in review (status ${flagged.status})`);
      return;
    }
    await page.getByTestId('nav-review').click();
    const queued = page.locator(`[data-testid=review-row][data-id="${flagged.id}"]`);
    await waitFor('the payment in the queue (indexed)', async () => {
      if (await queued.count()) return true;
      await page.reload();
      await page.locator('[data-testid=review-table], [data-testid=empty]').first()
        .waitFor({ timeout: WAIT_MS });
      return false;
    });
    assert.match(await queued.innerText(), new RegExp(rule));
    await shot('12h-review-queue-with-a-payment');
    await queued.getByTestId('approve-button').click();
    await page.getByTestId('confirm-reason').fill('e2e: known customer');
    await page.getByTestId('confirm-button').click();
    await queued.waitFor({ state: 'detached', timeout: WAIT_MS });
    await waitFor('the approved payment to settle', async () =>
      (await api('GET', `/v1/payments/${flagged.id}`)).status === 'succeeded', 30000);
    await page.goto(`${URL}/admin/payments/${flagged.id}`);
    await page.getByTestId('payment-review').waitFor({ timeout: WAIT_MS });
    assert.match(await page.getByTestId('payment-review').innerText(), /approve/);
    await shot('12i-payment-approved-in-review');
  } finally {
    // The rule goes, whatever happened: later payments are not tagged, but
    // the page shows an empty list again.
    await page.goto(`${URL}/admin/risk?tenant=${tenant}`);
    const r = page.locator(`[data-testid=rule-row][data-id="${rule}"]`);
    await r.getByTestId('delete-rule-button').click();
    await page.getByTestId('confirm-reason').fill('e2e: done');
    await page.getByTestId('confirm-button').click();
    await r.waitFor({ state: 'detached', timeout: WAIT_MS });
  }
});

test('the console fits a phone-sized screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, testId, name] of [
    ['/admin/', 'overview-series-chart', '13-phone-overview'],
    [`/admin/payments?account=${payer}`, 'payment-row', '14-phone-payments'],
    [`/admin/payments/${payment.id}`, 'payment-summary', '15-phone-payment-detail'],
    ['/admin/review', 'review-filters', '15b-phone-review'],
    ['/admin/reports', 'report-controls', '15c-phone-reports'],
  ]) {
    await page.goto(URL + path);
    await page.getByTestId(testId).first().waitFor({ timeout: WAIT_MS });
    await shot(name);
    const { overflow, wide } = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      // The innermost elements that stick out, to say what to fix.
      const out = [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > width + 1
          && ![...e.children].some((c) => c.getBoundingClientRect().right > width + 1))
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className} "${(e.textContent || '').slice(0, 40)}"`);
      return { overflow: document.documentElement.scrollWidth - width, wide: out };
    });
    assert.ok(overflow <= 1, `${path} is ${overflow}px wider than the screen: ${wide.join('; ')}`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('logout ends the session', async () => {
  expectedStatus = 401;
  await page.getByTestId('logout-button').click();
  await page.getByTestId('login-submit').waitFor({ timeout: WAIT_MS });
  const r = await page.evaluate(async () => (await fetch('/admin/api/session')).status);
  assert.equal(r, 401);
});

test('a viewer sees no refund button and is refused the route', async () => {
  await login({ email: process.env.E2E_VIEWER_EMAIL, password: process.env.E2E_VIEWER_PASSWORD });
  expectedStatus = 403;
  await page.goto(`${URL}/admin/payments/${payment.id}`);
  await page.getByTestId('payment-summary').waitFor({ timeout: WAIT_MS });
  assert.equal(await page.getByTestId('refund-button').count(), 0);
  await shot('16-viewer-payment-detail');
  const status = await page.evaluate(async (id) => {
    const s = await (await fetch('/admin/api/session')).json();
    const r = await fetch(`/admin/api/payments/${id}/refunds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token,
        'idempotency-key': crypto.randomUUID() },
      body: JSON.stringify({ reason: 'a viewer tries' }),
    });
    return r.status;
  }, payment.id);
  assert.equal(status, 403);
  await page.getByTestId('logout-button').click();
});

test('no console errors on any page', () => {
  assert.deepEqual(problems, []);
});
