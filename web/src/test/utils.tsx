import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { Provider } from 'react-redux';
import { MemoryRouter } from 'react-router';
import { makeStore, type AppStore } from '../store/store';
import type { Role } from '../lib/roles';

export function storeAs(role: Role | null, csrf = 'csrf-123'): AppStore {
  return makeStore(
    role
      ? {
          session: {
            status: 'authenticated',
            staff: { id: 'stf_1', email: 'a@example.com', role },
            csrfToken: csrf,
            expiresAt: null,
          },
        }
      : undefined,
  );
}

export function renderWith(ui: ReactElement, store: AppStore = storeAs('admin'), path = '/') {
  return { store, ...render(<Provider store={store}><MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter></Provider>) };
}
