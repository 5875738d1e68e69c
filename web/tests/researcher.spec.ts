// Journey 3: a researcher finds a datalab in the marketplace, reads its page, launches it, opens
// the session and destroys it from My datalabs.
import { expect, test } from '@playwright/test';
import { expectAccessible, keepScreenshot, signIn, timedVisit } from './journey';
import { NAMES, PASSWORD } from './service';

const lab = NAMES.published;

test('researcher searches, filters, reads a datalab page and stars it @phone', async ({ page }, testInfo) => {
	await page.goto('/signin');
	await page.getByLabel('User name').fill('rita');
	await page.getByLabel('Password').fill('not her password');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByRole('alert')).toHaveText('the user name or password is wrong');
	await expect(page.getByLabel('User name')).toHaveValue('rita');
	await expectAccessible(page, 'the sign-in page with an error');
	await signIn(page, 'rita');
	await timedVisit(page, testInfo, '/marketplace', () =>
		expect(page.getByRole('heading', { name: 'Photometry demo' })).toBeVisible()
	);
	await expectAccessible(page, 'the marketplace');
	const card = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Photometry demo' }) });
	await expect(card.getByText('JupyterLab', { exact: true })).toBeVisible();
	await expect(card.getByText('Licence: Apache-2.0')).toBeVisible();
	await expect(page.getByRole('group', { name: 'Kind' }).getByLabel('JupyterLab (1)')).toBeVisible();
	await keepScreenshot(page, testInfo, 'marketplace');

	await page.getByRole('searchbox', { name: 'Search datalabs' }).fill('nothing-matches-this');
	await page.getByRole('button', { name: 'Search' }).click();
	await expect(page.getByText('No datalab matches.')).toBeVisible();
	// Results follow the keys as they are typed, without the Search button.
	await page.getByRole('searchbox', { name: 'Search datalabs' }).fill('');
	await expect(page.getByText('No datalab matches.')).toBeHidden();
	await page.getByRole('searchbox', { name: 'Search datalabs' }).pressSequentially('photom', { delay: 60 });
	await expect(page.getByText('1 datalab', { exact: true })).toBeVisible();
	await expect(page).toHaveURL(/q=photom/);
	await expect(page.getByRole('searchbox', { name: 'Search datalabs' })).toBeFocused();
	await page.getByRole('group', { name: 'Kind' }).getByLabel('JupyterLab (1)').check();
	await expect(page).toHaveURL(/kind=jupyterlab/);
	await page.getByLabel('Sort by').selectOption('stars');
	await expect(page).toHaveURL(/sort=stars/);

	await page.getByRole('link', { name: 'Photometry demo' }).click();
	await expect(page.getByRole('heading', { level: 1, name: 'Photometry demo' })).toBeVisible();
	await timedVisit(page, testInfo, `/datalabs/${lab}`, () =>
		expect(page.getByRole('heading', { level: 1, name: 'Photometry demo' })).toBeVisible()
	);
	await expect(page.getByText('Apache-2.0')).toBeVisible();
	await expect(page.getByRole('cell', { name: '0.0.1' })).toBeVisible();
	const jsonLd = await page.locator('script[type="application/ld+json"]').textContent();
	expect(JSON.parse(jsonLd ?? 'null'), 'the datalab JSON-LD').toBeTruthy();
	expect(jsonLd).toContain('Photometry demo');
	await expectAccessible(page, 'the datalab page');
	await keepScreenshot(page, testInfo, 'datalab-page');

	await page.getByRole('button', { name: /^Star/ }).click();
	await expect(page.getByRole('button', { name: 'Unstar (1)' })).toBeVisible();
	await page.getByRole('button', { name: 'Unstar (1)' }).click();
	await expect(page.getByRole('button', { name: 'Star (0)' })).toBeVisible();
});

test('researcher launches a datalab, follows its progress, opens it and destroys it', async ({ page, context }, testInfo) => {
	// Signed out, My datalabs leads to sign-in and back.
	await page.goto('/my-datalabs');
	await expect(page).toHaveURL(/\/signin\?next=%2Fmy-datalabs/);
	await page.getByLabel('User name').fill('rita');
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page).toHaveURL(/\/my-datalabs$/);
	await expect(page.getByText('No sessions yet')).toBeVisible();
	await page.goto(`/datalabs/${lab}`);
	await page.getByRole('button', { name: 'Launch' }).click();
	const dialog = page.getByRole('dialog', { name: `Launch ${lab}` });
	await expect(dialog.getByLabel('Version')).toHaveValue('0.0.1');
	await expect(dialog.getByLabel('CPUs')).toHaveValue('1');
	await expect(dialog.getByLabel('Memory (GiB)')).toHaveValue('2');
	await expectAccessible(page, 'the Launch dialog');

	// Below the datalab's minimum: the service's message appears beside the field, the rest kept.
	await dialog.getByLabel('Memory (GiB)').fill('0.5');
	await dialog.getByRole('button', { name: 'Launch' }).click();
	await expect(dialog.getByLabel('Memory (GiB)')).toHaveAccessibleDescription(/at least 2 GiB/);
	await expect(dialog.getByLabel('Memory (GiB)')).toHaveValue('0.5');
	await keepScreenshot(page, testInfo, 'launch-error');

	await dialog.getByLabel('Memory (GiB)').fill('2');
	await dialog.getByRole('button', { name: 'Launch' }).click();
	await expect(dialog.getByText('Your session is ready.')).toBeVisible({ timeout: 120_000 });
	await keepScreenshot(page, testInfo, 'launch-ready');
	const opened = context.waitForEvent('page');
	await dialog.getByRole('link', { name: 'Open session' }).click();
	const sessionPage = await opened;
	await sessionPage.waitForLoadState('domcontentloaded');
	expect(sessionPage.url()).toContain('/sessions/');
	await expect(sessionPage).toHaveTitle(/JupyterLab/, { timeout: 60_000 });
	await sessionPage.close();

	await dialog.getByRole('link', { name: 'My datalabs' }).click();
	await expect(page.getByRole('heading', { name: 'My datalabs' })).toBeVisible();
	await expect(page.getByText('ready', { exact: true })).toBeVisible();
	await expectAccessible(page, 'My datalabs');
	await page.getByRole('button', { name: `Logs of ${lab}` }).click();
	await expect(page.getByLabel(`Logs of ${lab}`)).toBeVisible();
	await keepScreenshot(page, testInfo, 'my-datalabs');
	page.once('dialog', (confirm) => confirm.accept());
	await page.getByRole('button', { name: `Destroy ${lab}` }).click();
	await expect(page.getByRole('button', { name: `Destroy ${lab}` })).toHaveCount(0, { timeout: 60_000 });
});
