import type { ReactNode } from 'react';
import { hasRole, type Role } from '../lib/roles';
import { useAppSelector } from '../store/store';

export function useRole(): Role | null {
  return useAppSelector((s) => s.session.staff?.role ?? null);
}

export function useCan(needed: Role): boolean {
  return hasRole(useRole(), needed);
}

/** Renders its children only for staff with at least role `need` (the server checks too). */
export function RoleGate({ need, children }: { need: Role; children: ReactNode }) {
  return useCan(need) ? <>{children}</> : null;
}
