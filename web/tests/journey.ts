// What every journey shares: signing in through the form, the accessibility check of each page,
// screenshots of key pages, and how fast a page was ready.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, type TestInfo } from '@playwright/test';
import { PASSWORD } from './service';

export async function signIn(page: Page, name: string, password = PASSWORD) {
	await page.goto('/signin');
	await page.getByLabel('User name').fill(name);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByText(`Signed in as ${name}`)).toBeVisible();
}

/** axe-core finds no violation (WCAG 2.1 A and AA and best practices) on the page as it is. */
export async function expectAccessible(page: Page, what: string) {
	const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
	const found = results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
	expect(found, `axe on ${what}`).toEqual([]);
}

/** A full-page screenshot kept in the test's output folder (LABFORGE_WEB_TEST_OUTPUT). */
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string) {
	await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
}

/** Milliseconds from navigation until `ready` is visible, reported with the test's results. */
export async function timedVisit(page: Page, testInfo: TestInfo, url: string, ready: () => Promise<void>) {
	const started = Date.now();
	await page.goto(url);
	await ready();
	const milliseconds = Date.now() - started;
	testInfo.annotations.push({ type: 'page-ready', description: `${url}: ${milliseconds} ms` });
	console.log(`page ready: ${url} in ${milliseconds} ms`);
}
