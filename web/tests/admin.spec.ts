// Journey 4: an administrator changes a user's role, adds a user, a data volume and a datazone,
// each refused first where the service says what is wrong, beside the field.
import { expect, test } from '@playwright/test';
import { expectAccessible, keepScreenshot, signIn } from './journey';
import { Caller } from './service';

test('administrator manages users and roles, data volumes and datazones @phone', async ({ page }, testInfo) => {
	const suffix = `${testInfo.project.name}-${Date.now().toString(36)}`;
	await signIn(page, 'admin', process.env.LABFORGE_ADMIN_PASSWORD);
	await page.getByRole('link', { name: 'Admin' }).click();
	await expect(page.getByRole('heading', { name: 'Users and roles' })).toBeVisible();
	await expect(page.getByLabel('Role of rita')).toHaveValue('researcher');
	await expectAccessible(page, 'the administration page');

	await page.getByLabel('Name', { exact: true }).fill(`ann-${suffix}`);
	await page.getByLabel('Role', { exact: true }).selectOption('author');
	await page.getByRole('button', { name: 'Create user' }).click();
	await expect(page.getByText(`ann-${suffix}'s one-time password:`)).toBeVisible();
	await page.getByLabel(`Role of ann-${suffix}`).selectOption('moderator');
	await expect(page.getByLabel(`Role of ann-${suffix}`)).toHaveValue('moderator');
	const admin = await Caller.signIn('admin', process.env.LABFORGE_ADMIN_PASSWORD);
	expect((await admin.call('GET', `/api/users/ann-${suffix}`)).role).toBe('moderator');

	await page.getByLabel('Volume name').fill(`gaia-${suffix}`);
	await page.getByLabel('Volume description').fill('Gaia DR3 source catalogue');
	await page.getByLabel('Where the data comes from').fill('ESA Gaia archive');
	await page.getByLabel('Mount path').fill('data/gaia');
	await page.getByRole('button', { name: 'Create data volume' }).click();
	await expect(page.getByLabel('Mount path')).toHaveAccessibleDescription(/absolute/);
	await expect(page.getByLabel('Volume description')).toHaveValue('Gaia DR3 source catalogue');
	await page.getByLabel('Mount path').fill('/data/gaia');
	await page.getByRole('button', { name: 'Create data volume' }).click();
	await expect(page.getByRole('button', { name: `Delete gaia-${suffix}` })).toBeVisible();

	await page.getByLabel('Datazone name').fill(`hpc-${suffix}`);
	await page.getByLabel('Datazone description').fill('The HPC cluster');
	await page.getByLabel('Runtime').selectOption('kubernetes');
	await page.getByLabel('Endpoint').fill('not an endpoint');
	await page.getByRole('button', { name: 'Create datazone' }).click();
	await expect(page.getByLabel('Endpoint')).toHaveAccessibleDescription(/is not a URL/);
	await page.getByLabel('Endpoint').fill('https://cluster.example.org:6443');
	await page.getByLabel('Namespace').fill('Datalabs_Sessions');
	await page.getByLabel('At most this many sessions').fill('4');
	await page.getByRole('button', { name: 'Create datazone' }).click();
	await expect(page.getByLabel('Namespace')).toHaveAccessibleDescription(/a Kubernetes namespace name/);
	await expect(page.getByLabel('At most this many sessions')).toHaveValue('4');
	await page.getByLabel('Namespace').fill('datalab-sessions');
	await page.getByRole('button', { name: 'Create datazone' }).click();
	await expect(page.getByRole('button', { name: `Delete hpc-${suffix}` })).toBeVisible();
	const zones: { name: string; namespace?: string | null; max_sessions?: number | null }[] = await admin.call('GET', '/api/datazones');
	const created = zones.find((zone) => zone.name === `hpc-${suffix}`);
	expect(created?.namespace).toBe('datalab-sessions');
	expect(created?.max_sessions).toBe(4);
	await expectAccessible(page, 'the administration page after changes');
	await keepScreenshot(page, testInfo, 'admin');
});
