// Lighthouse (desktop preset) on Ward's home, board, post and hospital pages in Debian's
// Chromium. Prints a table and writes report.json and report.md beside this file.
//
//   node bench/lighthouse/run.mjs [base-url]      (default http://127.0.0.1:8000)
//
// Ward must be running (./scripts/dev); bench/lighthouse/run.sh seeds a post and runs this.
// Scores are measured, not asserted: see bench/README.md for the targets and the latest run.

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import desktop from 'lighthouse/core/config/desktop-config.js';

const here = dirname(fileURLToPath(import.meta.url));
const base = (process.argv[2] || 'http://127.0.0.1:8000').replace(/\/$/, '');

async function json(path) {
  const response = await fetch(`${base}${path}`);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

const posts = await json('/api/v1/boards/free/posts?limit=1');
const hospitals = await json('/api/v1/hospitals?limit=1');
if (!posts.posts.length) throw new Error('no post on the free board: run bench/lighthouse/run.sh, which writes one');
const pages = {
  home: '/',
  board: '/boards/free',
  post: `/posts/${posts.posts[0].id}`,
  hospital: `/hospitals/${hospitals.hospitals[0].id}`,
};

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH || '/usr/bin/chromium',
  chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'],
});
const results = {};
try {
  for (const [name, path] of Object.entries(pages)) {
    const run = await lighthouse(`${base}${path}`, {
      port: chrome.port,
      output: 'json',
      logLevel: 'error',
      onlyCategories: ['performance', 'accessibility', 'best-practices', 'seo'],
    }, desktop);
    const { categories, audits } = run.lhr;
    const failed = Object.values(audits)
      .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode === 'binary')
      .map((a) => a.id);
    results[name] = {
      path,
      performance: Math.round(categories.performance.score * 100),
      accessibility: Math.round(categories.accessibility.score * 100),
      bestPractices: Math.round(categories['best-practices'].score * 100),
      seo: Math.round(categories.seo.score * 100),
      fcpMs: Math.round(audits['first-contentful-paint'].numericValue),
      tbtMs: Math.round(audits['total-blocking-time'].numericValue),
      failedAudits: failed,
    };
  }
} finally {
  await chrome.kill();
}

const at = new Date().toISOString();
writeFileSync(join(here, 'report.json'), `${JSON.stringify({ at, base, results }, null, 2)}\n`);
const rows = Object.entries(results).map(([name, r]) =>
  `| ${name} | \`${r.path.replace(/[0-9a-f-]{36}/, '…')}\` | ${r.performance} | ${r.accessibility} | ${r.bestPractices} | ${r.seo} | ${r.fcpMs} | ${r.tbtMs} | ${r.failedAudits.join(', ') || '—'} |`);
const table = [
  '| page | path | performance | accessibility | best practices | SEO | FCP ms | TBT ms | failed audits |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
writeFileSync(join(here, 'report.md'), `# Lighthouse, desktop preset (${at})\n\n${table}\n`);
console.log(table);
