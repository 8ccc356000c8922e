import { describe, expect, it } from 'vitest';
import { auditChanges } from './auditDiff';

describe('auditChanges', () => {
  it('names the fields that changed, and only those', () => {
    expect(auditChanges({ id: 'acct_1', status: 'active', available: 5 }, { id: 'acct_1', status: 'frozen', available: 5 })).toEqual(['status: active → frozen']);
  });
  it('shows a creation and nested objects briefly', () => {
    expect(auditChanges(null, { id: 'ten_1', limits: { per_s: 1 } })).toEqual(['id: ∅ → ten_1', 'limits: ∅ → {…}']);
  });
  it('caps the list', () => {
    const after = { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 };
    expect(auditChanges({}, after, 4)).toHaveLength(5);
  });
});
