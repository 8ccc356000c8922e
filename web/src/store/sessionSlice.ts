import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { Session, Staff } from './types';

export interface SessionState {
  status: 'unknown' | 'authenticated' | 'anonymous';
  staff: Staff | null;
  // The CSRF token lives here only (never in localStorage); a reload asks
  // GET /admin/api/session for it again.
  csrfToken: string | null;
  expiresAt: string | null;
}

const initialState: SessionState = { status: 'unknown', staff: null, csrfToken: null, expiresAt: null };

const sessionSlice = createSlice({
  name: 'session',
  initialState,
  reducers: {
    sessionStarted(state, action: PayloadAction<Session>) {
      state.status = 'authenticated';
      state.staff = action.payload.staff;
      state.csrfToken = action.payload.csrf_token;
      state.expiresAt = action.payload.expires_at;
    },
    sessionEnded() {
      return { ...initialState, status: 'anonymous' as const };
    },
  },
});

export const { sessionStarted, sessionEnded } = sessionSlice.actions;
export default sessionSlice.reducer;
