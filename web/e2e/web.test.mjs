// Ward in a real browser: Debian's Chromium driven by playwright-core, against `ward run`
// started by ward/tests/it/web_e2e.rs, which passes:
//   E2E_URL         the single origin (the gateway), e.g. http://127.0.0.1:41234
//   E2E_HOSPITAL   a hospital id whose staff e-mail domain is E2E_DOMAIN
//   E2E_DOMAIN     that domain
//   E2E_MAIL_DIR   where the command API writes work-email codes (.eml files)
//   E2E_WARD_BIN   the ward binary, with its configuration in the environment (moderator grant)
//   E2E_ARTIFACTS  where screenshots of the key pages go
// Every step is checked; the first failure saves failure.png and exits 1.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('E2E_URL');
const hospital = env('E2E_HOSPITAL');
const domain = env('E2E_DOMAIN');
const mailDir = env('E2E_MAIL_DIR');
const wardBin = env('E2E_WARD_BIN');
const artifacts = env('E2E_ARTIFACTS');
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  headless: true,
  // As root in a sandboxless container, and with no network beyond this machine.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let current; // the page a failure screenshot shows
const step = async (name, body) => {
  const started = Date.now();
  await body();
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
};
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

// A browser context that records every request leaving for another origin.
const contexts = [];
async function person({ javaScript = true, locale = 'ko-KR' } = {}) {
  const context = await browser.newContext({ javaScriptEnabled: javaScript, locale });
  const foreign = [];
  context.on('request', (request) => {
    // Requests Ward's pages make (the identity provider's own pages are not Ward's), other
    // than following the sign-in link to the provider.
    const url = request.url();
    let from = '';
    try { from = request.frame().url(); } catch { /* a service worker's request */ }
    if (from.startsWith(base) && !url.startsWith(base) && !url.startsWith('data:')
      && !url.startsWith(process.env.E2E_IDP || '\0')) {
      foreign.push(`${from} -> ${url}`);
    }
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    // Ward's own pages only; a deliberate 4xx is logged by Chromium as a failed load.
    if (message.type() === 'error' && page.url().startsWith(base)
      && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
  });
  contexts.push({ context, foreign, errors });
  current = page;
  return { context, page, foreign, errors };
}

async function signIn(page, user) {
  if (process.env.E2E_DEBUG) page.on('response', (r) => console.log(r.status(), r.url()));
  await page.goto(`${base}/auth/signin`);
  await page.getByRole('link', { name: /OpenID Connect/ }).click();
  // The development provider: any user name, any password, then perhaps a consent form.
  for (let i = 0; i < 5 && !page.url().startsWith(base); i += 1) {
    for (const input of await page.locator('input:visible').all()) {
      const type = (await input.getAttribute('type')) || 'text';
      if (type === 'password') await input.fill('dev');
      else if (type === 'text' || type === 'email') await input.fill(user);
    }
    await Promise.all([page.waitForURL(() => true, { waitUntil: 'load' }), page.locator('button[type=submit], input[type=submit]').first().click()]);
  }
  await page.waitForURL((url) => url.href.startsWith(base));
  await assert.doesNotReject(page.getByRole('link', { name: '내 정보' }).waitFor());
}

function newestCode() {
  const files = readdirSync(mailDir).filter((f) => f.endsWith('.eml'))
    .map((f) => join(mailDir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  assert.ok(files.length > 0, `no mail in ${mailDir}`);
  // The body is base64 (it is Korean): decode it as a mail program would.
  const mail = readFileSync(files[0], 'utf8');
  const [head, ...rest] = mail.split(/\r?\n\r?\n/);
  const body = rest.join('\n');
  const text = /Content-Transfer-Encoding: base64/i.test(head)
    ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
    : body;
  const code = text.match(/\b(\d{6})\b/);
  assert.ok(code, 'no 6-digit code in the mail');
  return code[1];
}

try {
  const visitor = await person();
  const postTitle = `E2E 첫 글 <b>${Date.now()}</b>`;
  let postUrl;

  await step('a visitor reads the home page in Korean, with no third-party requests', async () => {
    const { page } = visitor;
    const response = await page.goto(`${base}/`);
    assert.equal(response.status(), 200);
    assert.equal(await page.locator('html').getAttribute('lang'), 'ko');
    assert.match(response.headers()['content-security-policy'], /default-src 'none'/);
    await page.getByRole('searchbox', { name: '병원 검색' }).waitFor();
    await shot(page, 'home');
  });

  await step('a visitor sees "sign in to post" instead of a write button', async () => {
    const { page } = visitor;
    await page.goto(`${base}/boards/free`);
    assert.equal(await page.locator('a[href^="/posts/new"]').count(), 0);
    await page.getByRole('link', { name: '로그인하고 글쓰기' }).waitFor();
    await shot(page, 'board-visitor');
  });

  await step('a visitor never sees "write a review" on a hospital page', async () => {
    const { page } = visitor;
    await page.goto(`${base}/hospitals/${hospital}`);
    assert.equal(await page.getByRole('link', { name: '리뷰 쓰기' }).count(), 0);
    assert.equal(await page.locator(`a[href="/hospitals/${hospital}/review"]`).count(), 0);
    await shot(page, 'hospital-visitor');
  });

  await step('the language switch shows English and remembers it', async () => {
    const { page } = await person();
    await page.goto(`${base}/boards/qna`);
    await page.getByRole('link', { name: 'English' }).click();
    await page.waitForURL(`${base}/boards/qna`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await page.getByRole('link', { name: 'Sign in to post' }).waitFor();
    await page.goto(`${base}/hospitals`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  });

  // Alice posts with JavaScript off: plain forms and redirects.
  const alice = await person({ javaScript: false });
  await step('a member signs in through the identity provider (JavaScript off)', async () => {
    await signIn(alice.page, 'alice-e2e');
  });

  await step('she writes a post and sees it at once, its markup escaped', async () => {
    const { page } = alice;
    await page.goto(`${base}/boards/free`);
    await page.getByRole('link', { name: '글쓰기' }).click();
    await page.getByLabel('제목').fill(postTitle);
    await page.getByLabel('내용').fill('첫 줄\n<script>alert(1)</script> 둘째 줄');
    await page.getByRole('button', { name: '올리기' }).click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}\?v=post:/);
    postUrl = page.url().split('?')[0];
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), postTitle);
    assert.match(await page.locator('article .body').textContent(), /<script>alert\(1\)<\/script>/);
    await shot(page, 'post-author');
  });

  await step('a bad input gets a clear error page and changes nothing', async () => {
    const { page } = alice;
    await page.goto(`${base}/posts/new?board=free`);
    await page.getByLabel('제목').fill('전화번호 글');
    await page.getByLabel('내용').fill('연락 주세요 010-1234-5678');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/posts` && r.request().method() === 'POST'),
      page.getByRole('button', { name: '올리기' }).click(),
    ]);
    assert.equal(response.status(), 422);
    await page.getByText('personal_data').waitFor();
  });

  // Bob comments with JavaScript on (the inline path), verifies his hospital and reviews it.
  const bob = await person();
  await step('another member comments on the post', async () => {
    const { page } = bob;
    await signIn(page, 'bob-e2e');
    await page.goto(postUrl);
    await page.getByLabel('댓글 쓰기').fill('좋은 글 감사합니다');
    await page.getByRole('button', { name: '등록' }).last().click();
    await page.waitForURL(/#c-/);
    await page.locator('.comments .body', { hasText: '좋은 글 감사합니다' }).waitFor();
    assert.match(await page.locator('.comments .handle').first().textContent(), /익명1/);
  });

  await step('he likes it without a reload', async () => {
    const { page } = bob;
    const here = page.url();
    const like = page.locator('article.post form[action$="/like"] button');
    assert.equal(await like.locator('[data-count]').textContent(), '0');
    await like.click();
    await page.locator('article.post form[action$="/like"] button.done').waitFor();
    assert.equal(await like.locator('[data-count]').textContent(), '1');
    assert.equal(page.url(), here);
    // The read model has it too (the projector may take a moment).
    let count = '';
    for (let i = 0; i < 50 && count !== '1'; i += 1) {
      await page.reload();
      count = await page.locator('article.post form[action$="/like"] [data-count]').textContent();
      if (count !== '1') await page.waitForTimeout(100);
    }
    assert.equal(count, '1');
  });

  await step('an insider verifies by work-email code and writes a review; the numbers change', async () => {
    const { page } = bob;
    await page.goto(`${base}/hospitals/${hospital}`);
    assert.equal(await page.getByRole('link', { name: '리뷰 쓰기' }).count(), 0);
    const before = await page.locator('.hospital-head .count').first().textContent();
    assert.match(before, /리뷰 0/);
    await page.getByRole('link', { name: '이 병원 재직 인증하기' }).click();
    await page.getByLabel('직군').selectOption('nurse');
    await page.getByRole('button', { name: '인증 요청' }).click();
    await page.waitForURL(/\/me\/claims\//);
    await page.getByLabel('업무용 이메일 주소').fill(`bob@${domain}`);
    await page.getByRole('button', { name: '코드 보내기' }).click();
    await page.getByText('코드를 보냈습니다').waitFor();
    await page.getByLabel('인증 코드').fill(newestCode());
    await page.getByRole('button', { name: '확인' }).click();
    await page.locator('.tag', { hasText: '인증됨' }).waitFor();
    await shot(page, 'claim-verified');
    await page.goto(`${base}/hospitals/${hospital}`);
    await page.getByRole('link', { name: '리뷰 쓰기' }).click();
    await page.getByLabel('한 줄 요약').fill('배울 것이 많은 병원');
    await page.getByLabel('장점').fill('교육 체계가 잘 잡혀 있고 선배들이 친절하게 알려 줍니다.');
    await page.getByLabel('단점').fill('야간 근무가 많고 인력이 부족한 날이 잦아서 힘듭니다.');
    await page.getByRole('button', { name: '올리기' }).click();
    await page.waitForURL(new RegExp(`/hospitals/${hospital}\\?v=review:`));
    assert.match(await page.locator('.hospital-head .count').first().textContent(), /리뷰 1/);
    await page.locator('.ratings meter').first().waitFor();
    await page.locator('article.review h3', { hasText: '배울 것이 많은 병원' }).waitFor();
    await shot(page, 'hospital-reviewed');
  });

  await step('he reports the post', async () => {
    const { page } = bob;
    await page.goto(postUrl);
    await page.locator('article.post details.more summary').click();
    await page.locator('article.post select[name=reason]').selectOption('spam');
    await page.locator('article.post details.more button[type=submit]').click();
    await page.waitForURL(postUrl);
  });

  await step('a moderator hides the reported post; readers see it hidden and logged', async () => {
    const { page } = await person();
    await signIn(page, 'carol-moderator-e2e');
    const me = await (await page.request.get(`${base}/api/v1/me`)).json();
    execFileSync(wardBin, ['members', 'grant', me.member_ref, 'moderator'], { stdio: 'inherit' });
    await page.goto(`${base}/moderation`);
    const postId = postUrl.split('/').pop();
    const item = page.locator('li.item', { has: page.locator(`a[href="/posts/${postId}"]`) });
    await item.waitFor();
    await item.getByLabel('공개 메모').fill('광고로 판단했습니다');
    await shot(page, 'moderation-queue');
    await item.getByRole('button', { name: '숨기기' }).click();
    await page.waitForURL(`${base}/moderation`);
    const reader = visitor.page;
    for (let i = 0; i < 50; i += 1) {
      await reader.goto(postUrl);
      if (await reader.getByText('운영 정책에 따라 숨겨진 글입니다.').count()) break;
      await reader.waitForTimeout(100);
    }
    await reader.getByText('운영 정책에 따라 숨겨진 글입니다.').waitFor();
    await reader.goto(`${base}/moderation/log`);
    await reader.getByText('광고로 판단했습니다').waitFor();
    await shot(reader, 'moderation-log');
  });

  await step('no page asked another origin for anything, and no script failed', async () => {
    for (const { foreign, errors } of contexts) {
      assert.deepEqual(foreign, []);
      assert.deepEqual(errors, []);
    }
  });
  console.log(`screenshots in ${artifacts}`);
} catch (error) {
  console.error(`not ok - ${error.stack || error}`);
  if (current) await current.screenshot({ path: join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
