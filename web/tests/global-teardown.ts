// Ends the sessions the journeys left and stops the labforge serve that global-setup started.
import { rmSync } from 'node:fs';
import { Caller } from './service';

export default async function globalTeardown() {
	const pid = Number(process.env.LABFORGE_WEB_TEST_PID);
	const folder = process.env.LABFORGE_WEB_TEST_FOLDER;
	if (!pid || !folder) return;
	for (const name of ['rita', 'ada', 'mo', 'otto']) {
		const caller = await Caller.signIn(name).catch(() => null);
		const sessions = (await caller?.call('GET', '/api/sessions').catch(() => [])) ?? [];
		for (const session of sessions as { id: string; status: string }[]) {
			if (session.status !== 'ended') await caller?.call('DELETE', `/api/sessions/${session.id}`).catch(() => {});
		}
	}
	process.kill(pid, 'SIGTERM');
	// Its graceful shutdown lets running builds record their end; then the folder can go.
	for (let attempt = 0; attempt < 100; attempt++) {
		try {
			process.kill(pid, 0);
		} catch {
			break;
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	if (!process.env.LABFORGE_WEB_TEST_KEEP) rmSync(folder, { recursive: true, force: true });
}
