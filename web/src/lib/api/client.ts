// The one API client: openapi-fetch typed by the generated schema (schema.d.ts).
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type ApiErrorBody = Schemas['ErrorBody'];

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });

/** The error body of a failed call, whatever its shape (a proxy's plain text, a network error). */
export function errorBody(error: unknown, response?: Response): ApiErrorBody {
	if (error && typeof error === 'object' && 'error' in error) {
		const body = (error as { error: ApiErrorBody }).error;
		if (body && typeof body.message === 'string') return body;
	}
	const status = response ? ` (HTTP ${response.status})` : '';
	return { code: 'unexpected', message: `The service could not answer${status}.` };
}

/** Messages by request field: the envelope's `field` and each of its `details`. Messages for
 * no field the form shows go under `''`, shown at the top of the form. */
export function fieldErrors(body: ApiErrorBody | null, known: string[]): Record<string, string> {
	const errors: Record<string, string> = {};
	if (!body) return errors;
	const place = (field: string | null | undefined, message: string) => {
		const key = field && known.includes(field) ? field : '';
		errors[key] = errors[key] ? `${errors[key]} ${message}` : message;
	};
	if (body.details && body.details.length > 0) {
		for (const detail of body.details) place(detail.field, detail.message);
	} else {
		place(body.field, body.message);
	}
	return errors;
}

/** Uploads a zip archive as it is (`POST /api/uploads`, the raw bytes). */
export function uploadZip(file: Blob) {
	return api.POST('/api/uploads', {
		body: file as never,
		bodySerializer: (body: unknown) => body as Blob,
		headers: { 'content-type': 'application/zip' }
	});
}
