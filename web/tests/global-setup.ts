// Starts a fresh `labforge serve` (SQLite in a temporary folder, build workers pushing to the test
// registry, the built UI at /) and makes the journeys' accounts and datalabs through its API:
// `jl-photometry` built and published; `web-catalog` built and awaiting review.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { BASE, Caller, PASSWORD, builtDatalab } from './service';


const root = resolve(import.meta.dirname, '../..');

export default async function globalSetup() {
	const binary =
		process.env.LABFORGE_BIN ?? resolve(process.env.CARGO_TARGET_DIR ?? resolve(root, 'target'), 'debug/labforge');
	if (!existsSync(binary)) throw new Error(`${binary} is missing: cargo build --bin labforge first (or set LABFORGE_BIN)`);
	const ui = resolve(root, 'web/build');
	if (!existsSync(resolve(ui, 'index.html'))) throw new Error('web/build is missing: npm run build first');
	const folder = mkdtempSync('/var/tmp/labforge-web-test.');
	const registry = process.env.LABFORGE_TEST_REGISTRY ?? '127.0.0.1:5005';
	const log = resolve(folder, 'serve.log');
	const child = spawn('sh', ['-c', `exec "$0" serve >"$1" 2>&1`, binary, log], {
		cwd: root,
		detached: false,
		stdio: 'ignore',
		env: {
			...process.env,
			LABFORGE_LISTEN: BASE.replace('http://', ''),
			LABFORGE_DATA_DIR: folder,
			LABFORGE_DATABASE_URL: `sqlite://${folder}/labforge.db`,
			LABFORGE_BUILD_CONCURRENCY: '2',
			LABFORGE_REGISTRY: registry,
			LABFORGE_REGISTRY_USERNAME: process.env.LABFORGE_TEST_REGISTRY_USERNAME ?? 'builder',
			LABFORGE_REGISTRY_PASSWORD: process.env.LABFORGE_TEST_REGISTRY_PASSWORD ?? '',
			LABFORGE_SECURE_COOKIES: 'false',
			LABFORGE_UI_DIR: ui
		}
	});
	// For global-teardown, which runs in this same process.
	process.env.LABFORGE_WEB_TEST_PID = String(child.pid);
	process.env.LABFORGE_WEB_TEST_FOLDER = folder;
	try {
		await makeFixtures(log);
	} catch (error) {
		// Nothing stays running when the fixtures cannot be made.
		child.kill('SIGTERM');
		throw error;
	}
}

/** Reads the first administrator's password, checks the API types, then makes the journeys'
 * accounts and datalabs. */
async function makeFixtures(log: string) {
	let password = '';
	for (let attempt = 0; attempt < 120 && !password; attempt++) {
		await new Promise((r) => setTimeout(r, 250));
		const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
		password = /one-time password (\w+)/.exec(text)?.[1] ?? '';
	}
	if (!password) throw new Error(`labforge serve printed no administrator password; see ${log}`);
	for (let attempt = 0; attempt < 60; attempt++) {
		if (await fetch(`${BASE}/api/openapi.json`).then((r) => r.ok, () => false)) break;
		await new Promise((r) => setTimeout(r, 250));
	}
	// The UI's API types must be those the service's document generates.
	execFileSync('node', ['scripts/api-types.mjs', 'check'], {
		cwd: resolve(root, 'web'),
		env: { ...process.env, LABFORGE_URL: BASE },
		stdio: 'inherit'
	});
	process.env.LABFORGE_ADMIN_PASSWORD = password;
	const admin = await Caller.signIn('admin', password);
	for (const [name, role] of [['ada', 'author'], ['mo', 'moderator'], ['rita', 'researcher'], ['otto', 'author']]) {
		await admin.call('POST', '/api/users', { name, role, password: PASSWORD });
	}
	const run = Date.now().toString(36);
	process.env.LABFORGE_WEB_PUBLISHED = `jl-photometry-${run}`;
	process.env.LABFORGE_WEB_REVIEWED = `web-catalog-${run}`;
	const published = process.env.LABFORGE_WEB_PUBLISHED;
	const reviewed = process.env.LABFORGE_WEB_REVIEWED;
	const ada = await Caller.signIn('ada');
	const mo = await Caller.signIn('mo');
	const started = Date.now();
	await Promise.all([
		builtDatalab(ada, published, 'jupyterlab', resolve(root, 'examples/jl-photometry-demo')),
		builtDatalab(ada, reviewed, 'generic', resolve(root, 'examples/web-catalog-browser'))
	]);
	const submission = await ada.call('POST', `/api/datalabs/${published}/versions/0.0.1/submission`, { audience: 'public' });
	await mo.call('POST', `/api/submissions/${submission.id}/decision`, { decision: 'approve' });
	await ada.call('POST', `/api/datalabs/${reviewed}/versions/0.0.1/submission`, { audience: 'public' });
	console.log(`fixtures built and published in ${((Date.now() - started) / 1000).toFixed(1)} s (serve log: ${log})`);
}
