// The marketplace page measured in Chromium, driven by bench/marketplace-ui.sh against a running
// `labforge serve` holding the generated datalabs. Prints each figure beside its floor, measured
// in the same run and the same browser:
//   - page ready: navigation start to the first result card of the full (unfiltered) search, in a
//     fresh browser context each time (nothing cached); floors: the same application's sign-in
//     page ready (the shell and its scripts, no search) and the search request alone (fetch);
//   - keystroke to results: a key typed in the search box (its input event) to the results of
//     what the box then says being on the page, typing words a key at a time at a person's pace;
//     floor: the same searches as plain fetch requests from the page.
// Usage: node bench/marketplace-ui.mjs <base URL> [loads, default 10]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'web', 'package.json'))('@playwright/test');

const base = process.argv[2];
const loads = Number(process.argv[3] ?? 10);
const KEY_GAP_MS = 250; // a brisk typist: four keys a second
if (!base) {
	console.error('usage: node bench/marketplace-ui.mjs <base URL> [loads]');
	process.exit(2);
}

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
	args: [
		'--no-sandbox',
		'--disable-gpu',
		'--disable-background-networking',
		'--disable-component-update',
		'--disable-sync',
		'--no-first-run'
	]
});

// Records (in the page's own clock, from navigation start) when `selector` first matches.
function readyWhen(selector) {
	return (wanted) => {
		const check = () => {
			if (window.__ready === undefined && document.querySelector(wanted)) {
				window.__ready = performance.now();
			}
		};
		new MutationObserver(check).observe(document, { childList: true, subtree: true, attributes: true });
		check();
	};
}

async function pageReady(url, selector) {
	const times = [];
	for (let i = 0; i < loads; i++) {
		const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		const page = await context.newPage();
		await page.addInitScript(readyWhen(selector), selector);
		await page.goto(base + url);
		await page.waitForSelector(selector, { timeout: 30_000 });
		times.push(await page.evaluate(() => window.__ready));
		await context.close();
	}
	return times;
}

const CARD = 'section[data-query=""] li.card';
const marketplace = await pageReady('/marketplace', CARD);
const shell = await pageReady('/signin', 'form button[type=submit]');

const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
await page.goto(base + '/marketplace');
await page.waitForSelector(CARD);

// Words people search for: taken from the titles of datalabs that exist.
const words = await page.evaluate(async () => {
	const answer = await fetch('/api/marketplace?per_page=100&sort=name').then((r) => r.json());
	const seen = new Set();
	for (const hit of answer.hits) {
		for (const word of hit.title.toLowerCase().split(/[^a-z]+/)) {
			if (word.length >= 5 && word.length <= 9) seen.add(word);
		}
	}
	return [...seen].slice(0, 20);
});
const total = await page.evaluate(() => fetch('/api/marketplace?per_page=1').then((r) => r.json()).then((a) => a.total));

const searchAlone = await page.evaluate(async (words) => {
	const times = [];
	for (const word of words) {
		for (let end = 1; end <= word.length; end++) {
			const started = performance.now();
			await fetch('/api/marketplace?q=' + encodeURIComponent(word.slice(0, end))).then((r) => r.json());
			times.push(performance.now() - started);
		}
	}
	return times;
}, words);
const firstLoad = await page.evaluate(async () => {
	const times = [];
	for (let i = 0; i < 10; i++) {
		const started = performance.now();
		await fetch('/api/marketplace').then((r) => r.json());
		times.push(performance.now() - started);
	}
	return times;
});

// Each input event's time, and when the results for the box's value were shown.
await page.evaluate(() => {
	const box = document.querySelector('#q');
	const section = document.querySelector('section[data-query]');
	window.__typed = [];
	box.addEventListener('input', (event) => {
		window.__typed.push({ value: box.value.trim(), at: event.timeStamp, shown: null });
	});
	new MutationObserver(() => {
		const now = performance.now();
		const query = section.getAttribute('data-query');
		for (const entry of window.__typed) {
			if (entry.shown === null && entry.value === query) entry.shown = now;
		}
	}).observe(section, { attributes: true, attributeFilter: ['data-query'], childList: true, subtree: true });
});
const box = page.locator('#q');
const keystrokes = { times: [], superseded: 0 };
for (const word of words) {
	await box.fill('');
	await page.waitForSelector(CARD);
	await page.evaluate(() => (window.__typed = []));
	for (const key of word) {
		await box.press(key);
		await page.waitForTimeout(KEY_GAP_MS);
	}
	await page.waitForSelector(`section[data-query="${word}"]`, { timeout: 10_000 });
	const typed = await page.evaluate(() => window.__typed);
	for (let i = 0; i < typed.length; i++) {
		const entry = typed[i];
		const next = typed[i + 1];
		// A key whose results were overtaken by the next key counts as slow as the gap itself.
		if (entry.shown === null || (next && entry.shown > next.at)) keystrokes.superseded++;
		const latency = entry.shown === null ? KEY_GAP_MS : Math.min(entry.shown - entry.at, next ? next.at - entry.at : Infinity);
		keystrokes.times.push(latency);
	}
}
await browser.close();

function percentile(values, p) {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const row = (label, values, note = '') =>
	console.log(
		`${label.padEnd(44)} ${percentile(values, 50).toFixed(0).padStart(6)} ms ${percentile(values, 95)
			.toFixed(0)
			.padStart(6)} ms ${String(values.length).padStart(5)}  ${note}`
	);
console.log(`marketplace in Chromium: ${total} published datalabs, ${loads} cold loads, ${words.length} words typed`);
console.log(`${''.padEnd(44)} ${'median'.padStart(9)} ${'p95'.padStart(9)} ${'n'.padStart(5)}`);
row('page ready: /marketplace (target < 1000 ms)', marketplace);
row('  floor: the app shell alone (/signin)', shell);
row('  floor: the full search request alone', firstLoad);
row('keystroke to results (target p95 < 150 ms)', keystrokes.times, `${keystrokes.superseded} overtaken by the next key`);
row('  floor: the same searches, fetch alone', searchAlone);
