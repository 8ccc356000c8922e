import '@testing-library/jest-dom/vitest';
import { afterEach } from 'vitest';
import { cleanup, configure } from '@testing-library/react';

// findBy*/waitFor wait up to 5 s, not 1: on CI's 2 cores, busy with the
// rest of `make test`, a first render of the app (login, then the payments
// page) took longer than 1 s and failed App.test.tsx now and then.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => cleanup());
