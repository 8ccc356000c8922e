import { describe, expect, it } from 'vitest';
import { screen } from '@testing-library/react';
import Layout from './Layout';
import { renderWith, storeAs } from '../test/utils';
import type { Role } from '../lib/roles';

// The pages of issue 12's console: the review queue for those who may
// review (support and above), reports for finance and admin, risk rules for
// everyone (read; finance and admin change them).
describe('the navigation', () => {
  it.each<[Role, boolean, boolean]>([
    ['viewer', false, false],
    ['support', true, false],
    ['finance', true, true],
    ['admin', true, true],
  ])('as %s: review queue %s, reports %s, risk rules always', (role, review, reports) => {
    renderWith(<Layout />, storeAs(role));
    expect(!!screen.queryByTestId('nav-review')).toBe(review);
    expect(!!screen.queryByTestId('nav-reports')).toBe(reports);
    expect(screen.getByTestId('nav-risk')).toBeInTheDocument();
  });
});
