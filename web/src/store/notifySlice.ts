import { createSlice, type PayloadAction } from '@reduxjs/toolkit';

export interface Notice {
  id: number;
  severity: 'success' | 'error' | 'info' | 'warning';
  message: string;
}

let seq = 0;

const notifySlice = createSlice({
  name: 'notify',
  initialState: { current: null as Notice | null },
  reducers: {
    notify: {
      reducer(state, action: PayloadAction<Notice>) {
        state.current = action.payload;
      },
      prepare(severity: Notice['severity'], message: string) {
        return { payload: { id: ++seq, severity, message } };
      },
    },
    dismiss(state) {
      state.current = null;
    },
  },
});

export const { notify, dismiss } = notifySlice.actions;
export default notifySlice.reducer;
