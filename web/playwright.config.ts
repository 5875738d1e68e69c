import { defineConfig } from '@playwright/test';

// The journeys run in Debian's Chromium against a real `labforge serve` that tests/global-setup.ts
// starts with the built UI (npm run build first). Playwright never downloads a browser here.
export default defineConfig({
	testDir: 'tests',
	globalSetup: './tests/global-setup.ts',
	globalTeardown: './tests/global-teardown.ts',
	outputDir: process.env.LABFORGE_WEB_TEST_OUTPUT ?? 'test-results',
	timeout: 90_000,
	expect: { timeout: 15_000 },
	fullyParallel: false,
	workers: 1,
	reporter: [['list']],
	use: {
		baseURL: `http://${process.env.LABFORGE_WEB_TEST_LISTEN ?? '127.0.0.1:5041'}`,
		trace: 'retain-on-failure',
		launchOptions: {
			executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
			args: [
				'--no-sandbox',
				'--disable-gpu',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync',
				'--no-first-run'
			]
		}
	},
	projects: [
		{ name: 'desktop', use: { viewport: { width: 1280, height: 800 } } },
		{ name: 'phone', use: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }, grep: /@phone/ }
	]
});
