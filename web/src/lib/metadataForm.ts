// The editor's metadata form: the fields of metadata-schema/fields.json an author writes, in
// their obligation's section, read from and written back into metadata.yaml as a YAML document,
// so that comments, key order and the fields the form does not show stay as the author wrote them.
import { parseDocument, type Document } from 'yaml';

export type FieldKind = 'text' | 'paragraph' | 'list' | 'number' | 'fixed';

export interface FormField {
	/** The dotted path in metadata.yaml, as the service names it in errors. */
	key: string;
	label: string;
	kind: FieldKind;
	hint?: string;
}

export const SECTIONS: { title: string; fields: FormField[] }[] = [
	{
		title: 'Mandatory',
		fields: [
			{ key: 'title', label: 'Title', kind: 'text' },
			{ key: 'alternateName', label: 'Short name', kind: 'text', hint: 'A short name or acronym, like x-ds9; a change is reviewed before it is published.' },
			{ key: 'version', label: 'Version', kind: 'fixed', hint: 'Add a new version to change it.' },
			{ key: 'abstract', label: 'Abstract', kind: 'paragraph' },
			{ key: 'contactPoint', label: 'Contact points', kind: 'list', hint: 'One a line: an email address, or Name <email>.' },
			{ key: 'creator', label: 'Creators', kind: 'list', hint: 'One a line: an organisation or a person, optionally Name <email>.' }
		]
	},
	{
		title: 'Recommended',
		fields: [
			{ key: 'keywords', label: 'Keywords', kind: 'list', hint: 'One a line.' },
			{ key: 'domain', label: 'Scientific domains', kind: 'list', hint: 'One a line, like Astronomy.' },
			{ key: 'license', label: 'Licence', kind: 'text', hint: 'An SPDX expression, like MIT or GPL-3.0-or-later.' },
			{ key: 'kind', label: 'Kind', kind: 'fixed', hint: 'Chosen when the datalab was made; it cannot change.' }
		]
	},
	{
		title: 'Optional',
		fields: [
			{ key: 'citation', label: 'Citation', kind: 'paragraph' },
			{ key: 'mission', label: 'Missions', kind: 'list', hint: 'One a line, like Gaia.' },
			{ key: 'instrument', label: 'Instruments', kind: 'list', hint: 'One a line.' },
			{ key: 'associatedFileType', label: 'File types', kind: 'list', hint: 'One a line, like FITS.' },
			{ key: 'audienceType', label: 'Audiences', kind: 'list', hint: 'One a line.' },
			{ key: 'minimumResources.cpu', label: 'Minimum CPUs', kind: 'number' },
			{ key: 'minimumResources.memoryGiB', label: 'Minimum memory (GiB)', kind: 'number' }
		]
	}
];

export const FORM_KEYS = SECTIONS.flatMap((section) => section.fields.map((field) => field.key));

const path = (key: string) => key.split('.');

/** A node of the document as plain data (a scalar's value, a sequence's items). */
function plain(node: unknown): unknown {
	return node && typeof node === 'object' && 'toJSON' in node ? (node as { toJSON(): unknown }).toJSON() : node;
}

/** The form's values (text per field) from metadata.yaml's document. */
export function formValues(document: Document): Record<string, string> {
	const values: Record<string, string> = {};
	for (const key of FORM_KEYS) {
		const value = plain(document.getIn(path(key)));
		if (value === undefined || value === null) values[key] = '';
		else if (Array.isArray(value)) values[key] = value.map(String).join('\n');
		else values[key] = String(value);
	}
	return values;
}

export function parseMetadata(text: string): { document: Document } | { problem: string } {
	const document = parseDocument(text);
	if (document.errors.length) return { problem: document.errors.map((error) => error.message).join(' ') };
	return { document };
}

/** metadata.yaml with the form's values written in: an empty field is removed, a list field is one
 * item a line, a number field a number when it reads as one (else the text, which the service
 * names as wrong beside the field). */
export function withValues(text: string, values: Record<string, string>): string {
	const document = parseDocument(text);
	for (const section of SECTIONS) {
		for (const field of section.fields) {
			if (field.kind === 'fixed') continue;
			const raw = values[field.key] ?? '';
			const keys = path(field.key);
			if (raw.trim() === '') {
				if (document.hasIn(keys)) document.deleteIn(keys);
				continue;
			}
			let value: unknown = raw.trim();
			if (field.kind === 'list') {
				value = raw.split('\n').map((line) => line.trim()).filter((line) => line !== '');
			} else if (field.kind === 'number') {
				value = Number.isNaN(Number(raw)) ? raw.trim() : Number(raw);
			}
			if (JSON.stringify(plain(document.getIn(keys))) !== JSON.stringify(value)) document.setIn(keys, value);
		}
	}
	// An emptied mapping (minimumResources without its fields) goes too.
	const resources = document.get('minimumResources');
	if (resources && typeof resources === 'object' && 'items' in resources && (resources as { items: unknown[] }).items.length === 0) {
		document.delete('minimumResources');
	}
	return document.toString();
}

/** The form field an error of the service concerns: `contactPoint[1]` is the contact points'. */
export function formKeyOf(field: string | null | undefined): string {
	if (!field) return '';
	const key = field.replace(/\[\d+\]/g, '');
	return FORM_KEYS.includes(key) ? key : '';
}
