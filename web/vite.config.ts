import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// `npm run dev` forwards the service's paths to a running labforge (LABFORGE_URL).
const service = process.env.LABFORGE_URL ?? 'http://127.0.0.1:5000';

export default defineConfig({
	plugins: [sveltekit()],
	server: {
		proxy: {
			'/api': { target: service, ws: false },
			'/sessions/': { target: service, ws: true },
			'/catalog.jsonld': service
		}
	}
});
