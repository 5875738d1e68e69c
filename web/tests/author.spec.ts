// Journey 1: an author creates a datalab with the wizard (a zip dropped on it), follows the build
// in the editor's Testing tab, edits its metadata in the form and its requirements, reads the
// metadata the build validated, checks the licence engine's decision and submits it for review.
import { resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { expectAccessible, keepScreenshot, signIn } from './journey';
import { Caller, zipOf } from './service';

const example = resolve(import.meta.dirname, '../../examples/jl-photometry-demo');

test('the wizard can be completed with the keyboard, and an API error shows beside its field with nothing typed lost', async ({ page }) => {
	const name = `x-keys-${Date.now().toString(36)}`;
	await signIn(page, 'otto');
	await page.goto('/create');
	await expectAccessible(page, 'the creator wizard');
	await page.getByRole('radio', { name: /JupyterLab/ }).focus();
	await page.keyboard.press('ArrowDown');
	await expect(page.getByRole('radio', { name: /Desktop over VNC/ })).toBeChecked();
	await page.keyboard.press('Tab');
	await expect(page.getByLabel('Datalab name')).toBeFocused();
	await page.keyboard.type(name);
	await page.keyboard.press('Tab');
	await expect(page.getByRole('radio', { name: 'Public git repository' })).toBeFocused();
	await page.keyboard.press('Tab');
	await expect(page.getByLabel('Repository URL')).toBeFocused();
	await page.keyboard.type('not a url');
	await page.keyboard.press('Tab');
	await page.keyboard.type('main');
	await page.keyboard.press('Tab');
	await expect(page.getByLabel('Version')).toBeFocused();
	await page.keyboard.type('0.0.1');
	await page.keyboard.press('Enter');

	// Beside the field: shown under it and read out as its description.
	await expect(page.getByLabel('Repository URL')).toHaveAccessibleDescription(/not a valid git URL/);
	await expect(page.getByLabel('Repository URL')).toBeFocused();
	await expect(page.getByLabel('Repository URL')).toHaveValue('not a url');
	await expect(page.getByLabel('Branch, tag or commit')).toHaveValue('main');
	await expect(page.getByLabel('Datalab name')).toHaveValue(name);
	await expect(page.getByRole('radio', { name: /Desktop over VNC/ })).toBeChecked();
	await expectAccessible(page, 'the wizard showing an error');
});

test('author creates a datalab from a dropped zip, follows its build and submits it @phone', async ({ page }, testInfo) => {
	const name = `jl-otto-${testInfo.project.name}-${Date.now().toString(36)}`;
	await signIn(page, 'otto');
	await page.getByRole('link', { name: 'Create' }).click();
	await page.getByLabel('Datalab name').fill('X');
	await page.getByRole('radio', { name: 'Zip archive' }).check();
	const archive = zipOf(example).toString('base64');
	const transfer = await page.evaluateHandle((base64) => {
		const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
		const data = new DataTransfer();
		data.items.add(new File([bytes], 'photometry.zip', { type: 'application/zip' }));
		return data;
	}, archive);
	await page.getByRole('group', { name: 'Zip archive' }).dispatchEvent('drop', { dataTransfer: transfer });
	await expect(page.getByText('Chosen: photometry.zip')).toBeVisible();
	// metadata.yaml of the archive is shown and prefills the version and the kind.
	const found = page.getByRole('region', { name: 'From its metadata.yaml' });
	await expect(found).toContainText('Photometry demo');
	await expect(found).toContainText('Apache-2.0');
	await expect(page.getByLabel('Version')).toHaveValue('0.0.1');
	await expect(page.getByRole('radio', { name: /JupyterLab/ })).toBeChecked();
	await expectAccessible(page, 'the wizard with a dropped archive');
	await page.getByRole('button', { name: 'Create and build' }).click();
	await expect(page.getByLabel('Datalab name')).toHaveAccessibleDescription(/is not valid/);
	await expect(page.getByText('Chosen: photometry.zip')).toBeVisible();
	await keepScreenshot(page, testInfo, 'wizard-error');

	await page.getByLabel('Datalab name').fill(name);
	await page.getByRole('button', { name: 'Create and build' }).click();
	await expect(page).toHaveURL(new RegExp(`/datalabs/${name}/edit\\?version=0.0.1&tab=testing`));
	await expect(page.getByText('0.0.1-0 SUCCESS').first()).toBeVisible({ timeout: 180_000 });
	await expect(page.getByLabel('Build log 0.0.1-0')).toContainText('build succeeded');
	await expect(page.getByText('Tips for your own Dockerfile')).toBeVisible();
	await expect(page.getByText(/The image holds \d+ Python distributions? and \d+ Debian packages?/)).toBeVisible();
	// The example's notebook, executed in the image before review.
	await expect(page.getByText('1 of 1 notebooks passed, run in the image without network')).toBeVisible();
	const notebooks = page.getByRole('region', { name: 'Notebooks executed' });
	await expect(notebooks.getByRole('row', { name: /photometry\.ipynb passed/ })).toBeVisible();
	await expect(page.getByText(/is titled “JupyterLab”/)).toBeVisible();
	await expect(page.getByRole('link', { name: 'Licence report (JSON)' })).toHaveAttribute('href', `/api/datalabs/${name}/versions/0.0.1/builds/0/licence-report`);
	await expectAccessible(page, 'the Testing tab');
	await keepScreenshot(page, testInfo, 'editor-testing');

	await page.getByRole('tab', { name: 'Metadata' }).click();
	await expect(page.getByText('Photometry demo')).toBeVisible();
	// The form is metadata.yaml of the sources; the service's errors appear beside their field
	// and nothing typed is lost.
	await expect(page.getByLabel('Title', { exact: true })).toHaveValue('Photometry demo');
	await expect(page.getByLabel('Kind', { exact: true })).toHaveAttribute('readonly', '');
	await page.getByLabel('Title', { exact: true }).fill('Photometry demo, edited');
	await page.getByLabel('Minimum CPUs').fill('lots');
	await page.getByRole('button', { name: 'Save metadata' }).click();
	await expect(page.getByLabel('Minimum CPUs')).toHaveAccessibleDescription(/line \d+, column \d+/);
	await expect(page.getByLabel('Title', { exact: true })).toHaveValue('Photometry demo, edited');
	await expectAccessible(page, 'the Metadata tab with an error');
	await keepScreenshot(page, testInfo, 'editor-metadata-error');
	await page.getByLabel('Minimum CPUs').fill('1');
	await page.getByRole('button', { name: 'Save metadata' }).click();
	await expect(page.getByText('Saved metadata.yaml. Rebuild to build 0.0.1 with it.')).toBeVisible();
	const author = await Caller.signIn('otto');
	const saved: string = await author.text(`/api/datalabs/${name}/versions/0.0.1/files/metadata.yaml`);
	expect(saved).toContain('title: Photometry demo, edited');
	expect(saved).toMatch(/minimumResources:\s+cpu: 1/);
	expect(saved).toContain('license: Apache-2.0');
	await expectAccessible(page, 'the Metadata tab');

	await page.getByRole('tab', { name: 'Testing' }).click();
	const requirements = page.getByLabel('requirements.txt', { exact: true });
	const before = await requirements.inputValue();
	await requirements.fill(`${before.trimEnd()}\n--index-url https://packages.example.org/simple\n`);
	await page.getByRole('button', { name: 'Save requirements.txt' }).click();
	await expect(requirements).toHaveAccessibleDescription(/changes where packages are downloaded from/);
	await requirements.fill(before);
	await page.getByRole('button', { name: 'Save requirements.txt' }).click();
	await expect(page.getByText('Saved requirements.txt. Rebuild to build 0.0.1 with it.')).toBeVisible();
	// Upload new sources: the example's archive again; the version now points at that upload.
	await page.getByLabel('New sources (a zip archive)').setInputFiles({ name: 'photometry-2.zip', mimeType: 'application/zip', buffer: zipOf(example) });
	await page.getByRole('button', { name: 'Upload new sources' }).click();
	await expect(page.getByText('photometry-2.zip is now the sources of 0.0.1. Rebuild to build them.')).toBeVisible();
	expect(await author.text(`/api/datalabs/${name}/versions/0.0.1/files/metadata.yaml`)).toContain('title: Photometry demo\n');
	await expectAccessible(page, 'the Testing tab after new sources');

	await page.getByRole('tab', { name: 'Visibility' }).click();
	await expect(page.getByLabel('Licence (SPDX expression)')).toHaveValue('Apache-2.0');
	await expect(page.getByText('Allowed for this audience.')).toBeVisible();
	await page.getByRole('radio', { name: 'Private' }).check();
	await page.getByLabel('Share with user').fill('nobody-here');
	await page.getByRole('button', { name: 'Share' }).click();
	await expect(page.getByLabel('Share with user')).toHaveAccessibleDescription(/nobody-here/);
	await page.getByLabel('Share with user').fill('rita');
	await page.getByRole('button', { name: 'Share' }).click();
	await expect(page.getByRole('button', { name: 'Stop sharing with rita' })).toBeVisible();
	expect(await author.call('GET', `/api/datalabs/${name}/members`)).toEqual(['rita']);
	await page.getByRole('radio', { name: 'ESA Member States' }).check();
	await expect(page.getByText('Allowed for this audience.')).toBeVisible();
	await expectAccessible(page, 'the Visibility tab');
	await keepScreenshot(page, testInfo, 'editor-visibility');
	await page.getByRole('button', { name: 'Submit 0.0.1 for review' }).click();
	await expect(page.getByText('Submitted 0.0.1 for review (awaiting review).')).toBeVisible();
	await expect(page.getByText('ESA Member States · awaiting review')).toBeVisible();
	await expect(page.getByRole('link', { name: 'Export 0.0.1' })).toHaveAttribute('href', `/api/datalabs/${name}/versions/0.0.1/export`);
});
