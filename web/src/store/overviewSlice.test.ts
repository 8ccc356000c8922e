import { describe, expect, it } from 'vitest';
import reducer, { initialOverview, paymentEvent, snapshotLoaded, statusEvent, tick } from './overviewSlice';
import type { Overview, PaymentEvent } from './types';

const T0 = Date.parse('2024-05-01T12:00:00Z') / 1000;
const iso = (s: number) => new Date(s * 1000).toISOString();

const snapshot: Overview = {
  object: 'overview',
  at: iso(T0),
  window_s: 10,
  series: [
    { t: iso(T0 - 1), created: 2, succeeded: 1, failed: 1 },
    { t: iso(T0), created: 1, succeeded: 2, failed: 0 },
  ],
  volume_by_currency: [{ currency: 'USD', created_amount: 1000, succeeded_amount: 500, count: 3 }],
  success_rate: 0.75,
  decline_rate: 0.25,
  settlement_lag_ms: { p50: 120, p99: 900 },
  dead_letters: { payments: 1, refunds: 0, webhooks: 2 },
  breaker: { state: 'closed', since: null },
};

const ev = (over: Partial<PaymentEvent>): PaymentEvent => ({
  id: 'evt_' + Math.random(),
  type: 'payment.created',
  tenant: 't',
  payment: 'pay_1',
  amount: 250,
  currency: 'USD',
  status: 'pending',
  created_at: iso(T0),
  at: iso(T0),
  ...over,
});

describe('overview reducer', () => {
  const loaded = reducer(initialOverview, snapshotLoaded(snapshot));

  it('starts from the snapshot', () => {
    expect(loaded.loaded).toBe(true);
    expect(loaded.series.map((b) => b.created)).toEqual([2, 1]);
    expect(loaded.series[1].t).toBe(T0);
    expect(loaded.lagP99).toBe(900);
    expect(loaded.volume[0]).toEqual({ currency: 'USD', created_amount: '1000', succeeded_amount: '500', count: 3 });
  });

  it('counts a created payment in its second and its currency', () => {
    const s = reducer(loaded, paymentEvent(ev({ type: 'payment.created', amount: 250 })));
    expect(s.series[s.series.length - 1].created).toBe(2);
    expect(s.volume[0].created_amount).toBe('1250');
    expect(s.volume[0].count).toBe(4);
  });

  it('adds a second, and a new currency, for later events', () => {
    const s = reducer(loaded, paymentEvent(ev({ type: 'payment.created', at: iso(T0 + 2), currency: 'JPY', amount: 700 })));
    expect(s.series.map((b) => b.t).slice(-3)).toEqual([T0, T0 + 1, T0 + 2]);
    expect(s.series[s.series.length - 1].created).toBe(1);
    expect(s.volume.find((v) => v.currency === 'JPY')?.created_amount).toBe('700');
  });

  it('recomputes success and decline rates from the window', () => {
    let s = reducer(loaded, paymentEvent(ev({ type: 'payment.failed' })));
    s = reducer(s, paymentEvent(ev({ type: 'payment.failed' })));
    // succeeded 3, failed 3 in the window
    expect(s.successRate).toBeCloseTo(0.5);
    expect(s.declineRate).toBeCloseTo(0.5);
    s = reducer(s, paymentEvent(ev({ type: 'payment.succeeded', amount: 100 })));
    expect(s.volume[0].succeeded_amount).toBe('600');
  });

  it('applies each event once', () => {
    const e = ev({ id: 'evt_same' });
    const s = reducer(reducer(loaded, paymentEvent(e)), paymentEvent(e));
    expect(s.series[s.series.length - 1].created).toBe(2);
  });

  it('slides the window on ticks', () => {
    const s = reducer(loaded, tick(T0 + 20));
    expect(s.series).toHaveLength(10);
    expect(s.series.every((b) => b.created === 0)).toBe(true);
    expect(s.series[9].t).toBe(T0 + 20);
  });

  it('takes dead letters and the breaker from status events', () => {
    const s = reducer(loaded, statusEvent({ dead_letters: { payments: 5, refunds: 1, webhooks: 0 }, breaker: { state: 'open', since: iso(T0) } }));
    expect(s.deadLetters.payments).toBe(5);
    expect(s.breaker.state).toBe('open');
  });
});

describe('the latest events', () => {
  it('lists the newest first and keeps only RECENT_MAX', async () => {
    const { default: reducer, paymentEvent, snapshotLoaded, RECENT_MAX } = await import('./overviewSlice');
    let s = reducer(undefined, snapshotLoaded({ object: 'overview', at: '2026-12-05T10:00:00Z', window_s: 300, series: [] } as never));
    for (let i = 0; i < RECENT_MAX + 3; i++) {
      s = reducer(
        s,
        paymentEvent({ id: `evt_${i}`, type: 'payment.created', tenant: 'ten_a', payment: `pay_${i}`, amount: 100, currency: 'USD', status: 'pending', created_at: '2026-12-05T10:00:00Z', at: '2026-12-05T10:00:00Z' }),
      );
    }
    expect(s.recent).toHaveLength(RECENT_MAX);
    expect(s.recent[0].payment).toBe(`pay_${RECENT_MAX + 2}`);
  });
});

describe('settlement lag from the stream', () => {
  it('takes the percentiles of the final payments it heard of', async () => {
    const { default: reducer, paymentEvent, snapshotLoaded } = await import('./overviewSlice');
    let s = reducer(undefined, snapshotLoaded({ object: 'overview', at: '2026-12-05T10:00:10Z', window_s: 300, series: [] } as never));
    expect(s.lagP50).toBeNull();
    for (const ms of [100, 200, 300]) {
      s = reducer(
        s,
        paymentEvent({ id: `evt_${ms}`, type: 'payment.succeeded', tenant: 't', payment: `pay_${ms}`, amount: 1, currency: 'USD', status: 'succeeded', created_at: '2026-12-05T10:00:00.000Z', at: new Date(Date.parse('2026-12-05T10:00:00.000Z') + ms).toISOString() }),
      );
    }
    expect(s.lagP50).toBe(200);
    expect(s.lagP99).toBe(300);
  });
});
