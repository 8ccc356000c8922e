// The live overview: starts from GET /admin/api/overview and applies the
// stream's `payment` and `status` events to it.
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { Breaker, DeadLetterCounts, Overview, PaymentEvent, StatusEvent } from './types';

export interface Bucket {
  t: number; // epoch seconds
  created: number;
  succeeded: number;
  failed: number;
}

export interface VolumeAcc {
  currency: string;
  created_amount: string; // minor units, as a decimal string (BigInt arithmetic)
  succeeded_amount: string;
  count: number;
}

export interface OverviewState {
  loaded: boolean;
  windowS: number;
  series: Bucket[];
  volume: VolumeAcc[];
  successRate: number | null;
  declineRate: number | null;
  lagP50: number | null;
  lagP99: number | null;
  deadLetters: DeadLetterCounts;
  breaker: Breaker;
  connection: 'connecting' | 'open' | 'reconnecting' | 'closed';
  lastEventAt: string | null;
  seen: string[]; // ids of recent events, to apply each once
  recent: PaymentEvent[]; // the latest events, newest first (RECENT_MAX)
  lags: number[]; // settlement lags (ms) of the final payments the stream told of
}

/** Lags kept for the stream's own percentiles (the newest). */
export const LAGS_MAX = 1000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** How many of the latest events the overview lists. */
export const RECENT_MAX = 10;

export const initialOverview: OverviewState = {
  loaded: false,
  windowS: 300,
  series: [],
  volume: [],
  successRate: null,
  declineRate: null,
  lagP50: null,
  lagP99: null,
  deadLetters: { payments: 0, refunds: 0, webhooks: 0 },
  breaker: { state: 'unknown', since: null },
  connection: 'connecting',
  lastEventAt: null,
  seen: [],
  recent: [],
  lags: [],
};

export function toEpochSeconds(t: string | number): number {
  if (typeof t === 'number') return Math.floor(t > 1e12 ? t / 1000 : t);
  if (/^\d+$/.test(t)) return toEpochSeconds(Number(t));
  return Math.floor(Date.parse(t) / 1000);
}

function addMinor(a: string | number, b: string | number): string {
  try {
    return (BigInt(a) + BigInt(b)).toString();
  } catch {
    return String(a);
  }
}

/** Moves the window so that it ends at `now`, filling seconds without events with zeros. */
function advance(state: OverviewState, now: number) {
  const last = state.series.length ? state.series[state.series.length - 1].t : now - 1;
  if (now > last) {
    const start = Math.max(last + 1, now - state.windowS + 1);
    for (let t = start; t <= now; t++) state.series.push({ t, created: 0, succeeded: 0, failed: 0 });
  }
  const cutoff = now - state.windowS;
  let drop = 0;
  while (drop < state.series.length && state.series[drop].t <= cutoff) drop++;
  if (drop) state.series.splice(0, drop);
}

function recomputeRates(state: OverviewState) {
  let ok = 0;
  let bad = 0;
  for (const b of state.series) {
    ok += b.succeeded;
    bad += b.failed;
  }
  if (ok + bad > 0) {
    state.successRate = ok / (ok + bad);
    state.declineRate = bad / (ok + bad);
  }
}

/** A final payment's settlement lag (its event's time minus its creation):
 * once the stream told of one, the percentiles are the stream's own. */
function addLag(state: OverviewState, e: PaymentEvent) {
  const lag = Date.parse(e.at) - Date.parse(e.created_at);
  if (!Number.isFinite(lag) || lag < 0) return;
  state.lags.push(lag);
  if (state.lags.length > LAGS_MAX) state.lags.splice(0, state.lags.length - LAGS_MAX);
  const sorted = [...state.lags].sort((a, b) => a - b);
  state.lagP50 = percentile(sorted, 50);
  state.lagP99 = percentile(sorted, 99);
}

const overviewSlice = createSlice({
  name: 'overview',
  initialState: initialOverview,
  reducers: {
    snapshotLoaded(state, action: PayloadAction<Overview>) {
      const o = action.payload;
      state.loaded = true;
      state.windowS = o.window_s || 300;
      state.series = (o.series ?? [])
        .map((p) => ({ t: toEpochSeconds(p.t), created: p.created ?? 0, succeeded: p.succeeded ?? 0, failed: p.failed ?? 0 }))
        .filter((b) => Number.isFinite(b.t))
        .sort((a, b) => a.t - b.t);
      state.volume = (o.volume_by_currency ?? []).map((v) => ({
        currency: v.currency,
        created_amount: String(v.created_amount ?? 0),
        succeeded_amount: String(v.succeeded_amount ?? 0),
        count: v.count ?? 0,
      }));
      state.successRate = o.success_rate ?? null;
      state.declineRate = o.decline_rate ?? null;
      state.lagP50 = o.settlement_lag_ms?.p50 ?? null;
      state.lagP99 = o.settlement_lag_ms?.p99 ?? null;
      state.deadLetters = o.dead_letters ?? state.deadLetters;
      // The database does not know the breaker (the worker does, and says
      // so on the stream): a snapshot's "unknown" keeps what the stream said.
      if (o.breaker && o.breaker.state !== 'unknown') state.breaker = o.breaker;
      if (o.at) advance(state, toEpochSeconds(o.at));
    },
    paymentEvent(state, action: PayloadAction<PaymentEvent>) {
      const e = action.payload;
      if (e.id) {
        if (state.seen.includes(e.id)) return;
        state.seen.push(e.id);
        if (state.seen.length > 500) state.seen.splice(0, state.seen.length - 500);
      }
      state.lastEventAt = e.at ?? e.created_at ?? null;
      state.recent.unshift(e);
      if (state.recent.length > RECENT_MAX) state.recent.length = RECENT_MAX;
      const t = toEpochSeconds(e.at ?? e.created_at);
      if (!Number.isFinite(t)) return;
      advance(state, Math.max(t, state.series.length ? state.series[state.series.length - 1].t : t));
      const bucket = state.series.find((b) => b.t === t);
      let vol = state.volume.find((v) => v.currency === e.currency);
      const ensureVol = () => {
        if (!vol) {
          vol = { currency: e.currency, created_amount: '0', succeeded_amount: '0', count: 0 };
          state.volume.push(vol);
        }
        return vol;
      };
      switch (e.type) {
        case 'payment.created': {
          if (bucket) bucket.created++;
          const v = ensureVol();
          v.count++;
          v.created_amount = addMinor(v.created_amount, e.amount);
          break;
        }
        case 'payment.succeeded': {
          if (bucket) bucket.succeeded++;
          addLag(state, e);
          const v = ensureVol();
          v.succeeded_amount = addMinor(v.succeeded_amount, e.amount);
          break;
        }
        case 'payment.failed':
          if (bucket) bucket.failed++;
          addLag(state, e);
          break;
        default:
          // payment.canceled, refund.*: no counter of the overview moves.
          return;
      }
      recomputeRates(state);
    },
    statusEvent(state, action: PayloadAction<StatusEvent>) {
      if (action.payload.dead_letters) state.deadLetters = action.payload.dead_letters;
      if (action.payload.breaker) state.breaker = action.payload.breaker;
    },
    tick(state, action: PayloadAction<number>) {
      if (state.loaded) advance(state, action.payload);
    },
    connectionChanged(state, action: PayloadAction<OverviewState['connection']>) {
      state.connection = action.payload;
    },
  },
});

export const { snapshotLoaded, paymentEvent, statusEvent, tick, connectionChanged } = overviewSlice.actions;
export default overviewSlice.reducer;
