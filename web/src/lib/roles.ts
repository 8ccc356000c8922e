export type Role = 'viewer' | 'support' | 'finance' | 'admin';

const RANK: Record<Role, number> = { viewer: 0, support: 1, finance: 2, admin: 3 };

/** Whether `role` has everything of `needed` (viewer < support < finance < admin). */
export function hasRole(role: Role | null | undefined, needed: Role): boolean {
  if (!role || !(role in RANK)) return false;
  return RANK[role] >= RANK[needed];
}
