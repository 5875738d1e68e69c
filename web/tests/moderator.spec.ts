// Journey 2: a moderator reviews a submission with its evidence, requests changes with a comment,
// the author resubmits, the moderator approves, and the datalab appears in the marketplace.
import { expect, test } from '@playwright/test';
import { expectAccessible, keepScreenshot, signIn } from './journey';
import { Caller, NAMES } from './service';

const lab = NAMES.reviewed;

test('moderator requests changes, the author resubmits, the moderator approves and it is in the marketplace', async ({ page }, testInfo) => {
	await signIn(page, 'mo');
	await page.getByRole('link', { name: 'Moderation' }).click();
	await expect(page.getByRole('heading', { name: 'Moderation queue' })).toBeVisible();
	await expectAccessible(page, 'the moderation queue');
	await page.getByRole('link', { name: `Review ${lab} 0.0.1` }).click();

	await expect(page.getByRole('heading', { name: `Review of ${lab} 0.0.1` })).toBeVisible();
	await expect(page.getByRole('heading', { name: 'Build 0.0.1-0' })).toBeVisible();
	await expect(page.getByText('Passed:')).toBeVisible();
	// A generic datalab: the title of the page a user opening it sees.
	await expect(page.getByText(/The page \/ is titled “Catalogue browser”/)).toBeVisible();
	await expect(page.getByRole('heading', { name: /^Licence / })).toBeVisible();
	await expect(page.getByText('First publication: nothing to compare.')).toBeVisible();
	// The evidence of what the image holds: its dependencies, flagged licences, the SBOM.
	await expect(page.getByText(/The image holds \d+ Python distributions? and \d+ Debian packages?/)).toBeVisible();
	// The base's own packages are the operator's: only what the datalab adds is flagged.
	await expect(page.getByText(/\d+ of them from its base datalab_base [\d.]+, which are not flagged; no dependency licence is flagged\./)).toBeVisible();
	const sbom = page.getByRole('link', { name: 'SBOM (SPDX 2.3 JSON)' });
	await expect(sbom).toHaveAttribute('href', `/api/datalabs/${lab}/versions/0.0.1/builds/0/sbom`);
	const moderator = await Caller.signIn('mo');
	const document: { spdxVersion: string; packages: unknown[] } = await moderator.call('GET', `/api/datalabs/${lab}/versions/0.0.1/builds/0/sbom`);
	expect(document.spdxVersion).toBe('SPDX-2.3');
	expect(document.packages.length).toBeGreaterThan(1);
	await page.getByText('Build log').click();
	await expect(page.getByLabel('Build log 0.0.1-0')).toContainText('build succeeded');
	await expectAccessible(page, 'the review page');
	await keepScreenshot(page, testInfo, 'review');

	// Requesting changes needs a comment: the service's message appears beside the field.
	await page.getByRole('button', { name: 'Request changes' }).click();
	await expect(page.getByLabel('Comment to the author')).toHaveAccessibleDescription(/comment/i);
	await page.getByLabel('Comment to the author').fill('Please describe the catalogue columns.');
	await page.getByRole('button', { name: 'Request changes' }).click();
	await expect(page.getByText('Decision recorded: changes requested.')).toBeVisible();
	await expect(page.getByText('Please describe the catalogue columns.').first()).toBeVisible();

	const ada = await Caller.signIn('ada');
	await ada.call('POST', `/api/datalabs/${lab}/versions/0.0.1/submission`, { audience: 'public' });

	await page.goto('/moderation');
	await page.getByRole('link', { name: `Review ${lab} 0.0.1` }).click();
	await expect(page.getByRole('button', { name: 'Approve' })).toBeVisible();
	await page.getByRole('button', { name: 'Approve' }).click();
	await expect(page.getByText(/Decision recorded: (approved|published)/)).toBeVisible();

	await page.getByRole('link', { name: 'Marketplace' }).click();
	await expect(page.getByRole('link', { name: /catalog/i }).first()).toBeVisible();
	await expect(page.getByText('2 datalabs', { exact: true })).toBeVisible();
});
