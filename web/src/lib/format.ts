export const KIND_LABELS: Record<string, string> = {
	jupyterlab: 'JupyterLab',
	desktop: 'Desktop (VNC)',
	generic: 'Web tool'
};

export const AUDIENCE_LABELS: Record<string, string> = {
	public: 'Public',
	member_states: 'ESA Member States',
	private: 'Private'
};

export function kindLabel(kind: string): string {
	return KIND_LABELS[kind] ?? kind;
}

export function when(iso: string | null | undefined): string {
	return iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : '';
}

/** A metadata value as text: strings as they are, lists joined. */
export function text(value: unknown): string {
	if (value === null || value === undefined) return '';
	if (Array.isArray(value)) return value.map(text).join(', ');
	if (typeof value === 'object') return JSON.stringify(value);
	return String(value);
}
