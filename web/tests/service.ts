// Calls to the labforge under test, as a given user, outside the browser: fixtures are made
// through the public API, the way a script of the operator would.
import { execFileSync } from 'node:child_process';

export const BASE = `http://${process.env.LABFORGE_WEB_TEST_LISTEN ?? '127.0.0.1:5041'}`;
export const PASSWORD = 'journey-password-1';

/** The journeys' datalabs, named afresh for each run: the test registry outlives the database, and
 * a pushed tag never changes. */
export const NAMES = {
	published: process.env.LABFORGE_WEB_PUBLISHED ?? '',
	reviewed: process.env.LABFORGE_WEB_REVIEWED ?? ''
};

export class Caller {
	private constructor(private cookie: string) {}

	static async signIn(name: string, password = PASSWORD): Promise<Caller> {
		const response = await fetch(`${BASE}/api/session`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ name, password })
		});
		if (!response.ok) throw new Error(`sign-in of ${name}: ${response.status} ${await response.text()}`);
		const cookie = response.headers.get('set-cookie')?.split(';')[0];
		if (!cookie) throw new Error(`sign-in of ${name} set no cookie`);
		return new Caller(cookie);
	}

	/** GET `path` as text (a source file). */
	async text(path: string): Promise<string> {
		const response = await fetch(`${BASE}${path}`, { headers: { cookie: this.cookie } });
		if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
		return response.text();
	}

	async call<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
		const response = await fetch(`${BASE}${path}`, {
			method,
			headers: { cookie: this.cookie, ...(body !== undefined ? { 'content-type': contentType } : {}) },
			body: body === undefined ? undefined : contentType === 'application/json' ? JSON.stringify(body) : (body as BodyInit)
		});
		const text = await response.text();
		if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
		return (text ? JSON.parse(text) : undefined) as T;
	}
}

/** The files of `folder` as a zip archive, at its root. */
export function zipOf(folder: string): Buffer {
	return execFileSync('python3', [
		'-c',
		`import io, os, sys, zipfile
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
    for root, _, files in os.walk(sys.argv[1]):
        for name in files:
            path = os.path.join(root, name)
            archive.write(path, os.path.relpath(path, sys.argv[1]))
sys.stdout.buffer.write(buffer.getvalue())`,
		folder
	]);
}

/** Creates `name` from an example folder as `author`, builds version 0.0.1 and waits for it. */
export async function builtDatalab(author: Caller, name: string, kind: string, example: string) {
	await author.call('POST', '/api/datalabs', { name, kind });
	const upload = await author.call('POST', '/api/uploads', zipOf(example), 'application/zip');
	await author.call('POST', `/api/datalabs/${name}/versions`, {
		version: '0.0.1',
		source: { kind: 'zip', upload: upload.id }
	});
	const build = await author.call('POST', `/api/datalabs/${name}/versions/0.0.1/builds`);
	const deadline = Date.now() + 240_000;
	for (;;) {
		const current = await author.call('GET', `/api/datalabs/${name}/versions/0.0.1/builds/${build.number}`);
		if (current.status === 'succeeded') return current;
		if (current.status === 'failed' || current.status === 'cancelled')
			throw new Error(`build of ${name} ${current.status}: ${current.failure}`);
		if (Date.now() > deadline) throw new Error(`build of ${name} did not finish in 4 minutes`);
		await new Promise((resolve) => setTimeout(resolve, 1000));
	}
}
