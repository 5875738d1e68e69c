// Reads metadata.yaml from the top of a zip archive in the browser, so that the wizard can show
// and prefill what the build will read (the service validates it again when it builds).
import { parse } from 'yaml';

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;

export type FoundMetadata = { fields: Record<string, unknown> } | { problem: string } | null;

/** `metadata.yaml` of the archive's root (or of its single top folder), parsed; `null` when absent. */
export async function metadataOfZip(file: Blob): Promise<FoundMetadata> {
	const bytes = new Uint8Array(await file.arrayBuffer());
	const view = new DataView(bytes.buffer);
	let end = -1;
	for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
		if (view.getUint32(at, true) === END_OF_DIRECTORY) {
			end = at;
			break;
		}
	}
	if (end < 0) return { problem: 'This file is not a zip archive.' };
	const entries = view.getUint16(end + 10, true);
	let at = view.getUint32(end + 16, true);
	const decoder = new TextDecoder();
	for (let index = 0; index < entries; index++) {
		if (view.getUint32(at, true) !== DIRECTORY_ENTRY) return { problem: 'The zip archive is damaged.' };
		const method = view.getUint16(at + 10, true);
		const compressedSize = view.getUint32(at + 20, true);
		const nameLength = view.getUint16(at + 28, true);
		const extraLength = view.getUint16(at + 30, true);
		const commentLength = view.getUint16(at + 32, true);
		const localHeader = view.getUint32(at + 42, true);
		const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
		at += 46 + nameLength + extraLength + commentLength;
		if (!/^([^/]+\/)?metadata\.yaml$/.test(name)) continue;
		const dataStart = localHeader + 30 + view.getUint16(localHeader + 26, true) + view.getUint16(localHeader + 28, true);
		const data = bytes.slice(dataStart, dataStart + compressedSize);
		let text: string;
		if (method === 0) text = decoder.decode(data);
		else if (method === 8) {
			const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
			text = await new Response(stream).text();
		} else return { problem: `metadata.yaml is compressed with method ${method}, which the browser cannot read.` };
		try {
			const fields = parse(text);
			if (!fields || typeof fields !== 'object' || Array.isArray(fields)) return { problem: 'metadata.yaml is not a mapping of fields.' };
			return { fields: fields as Record<string, unknown> };
		} catch (error) {
			return { problem: `metadata.yaml cannot be read: ${(error as Error).message}` };
		}
	}
	return null;
}
