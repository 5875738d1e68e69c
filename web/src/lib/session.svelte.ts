// Who is signed in, read once from GET /api/me and refreshed on sign-in and sign-out.
import { api, type Schemas } from './api/client';

const ROLES: Schemas['Role'][] = ['researcher', 'author', 'moderator', 'admin'];

class SignedIn {
	user = $state<Schemas['User'] | null>(null);
	loaded = $state(false);

	async refresh() {
		const { data } = await api.GET('/api/me');
		this.user = data ?? null;
		this.loaded = true;
	}

	/** Whether the user holds `role` or one that includes it. */
	can(role: Schemas['Role']): boolean {
		return this.user !== null && ROLES.indexOf(this.user.role) >= ROLES.indexOf(role);
	}
}

export const session = new SignedIn();
