// The Reports page's arithmetic: which figures a report has, a day-by-day
// series over the whole period (days without a row are zeros), and the
// period's defaults and limits. Volumes stay integer minor units; the
// charts get major units as numbers only to draw them (the tooltips and the
// table format the exact minor units).
import type { DailyReport, DailyRollup, RollupFigure } from '../store/types';
import { minorToDecimal } from './money';

/** The server's FS_ADMIN_REPORT_DAYS_MAX: days in one report, both ends included. */
export const REPORT_DAYS_MAX = 366;
/** The server's FS_ADMIN_REPORT_DAYS_DEFAULT: 31 days ending today (UTC). */
export const REPORT_DAYS_DEFAULT = 31;

/** Figures in the order shown; any other the server answers comes after, by name. */
export const FIGURE_ORDER = ['payments', 'succeeded', 'declined', 'canceled', 'refunds', 'flagged', 'blocked', 'review_rejected'];

export const FIGURE_LABELS: Record<string, string> = {
  payments: 'Created',
  succeeded: 'Succeeded',
  declined: 'Declined',
  canceled: 'Canceled',
  refunds: 'Refunds',
  flagged: 'Flagged for review',
  blocked: 'Blocked',
  review_rejected: 'Rejected in review',
};

export const FIGURE_COLORS: Record<string, string> = {
  payments: '#1d4ed8',
  succeeded: '#16a34a',
  declined: '#dc2626',
  canceled: '#6b7280',
  refunds: '#7c3aed',
  flagged: '#d97706',
  blocked: '#991b1b',
  review_rejected: '#db2777',
};

export function figureLabel(f: string): string {
  return FIGURE_LABELS[f] ?? f.replace(/_/g, ' ');
}

export function isFigure(v: unknown): v is RollupFigure {
  return typeof v === 'object' && v !== null && 'count' in v && 'volume' in v;
}

/** The figures the rows carry (flagged, blocked... only when the server has them). */
export function figuresOf(rows: DailyRollup[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (isFigure(v)) seen.add(k);
  const known = FIGURE_ORDER.filter((f) => seen.has(f));
  const rest = [...seen].filter((f) => !FIGURE_ORDER.includes(f)).sort();
  return [...known, ...rest];
}

const DAY_MS = 24 * 3600 * 1000;

/** Today's UTC date, YYYY-MM-DD. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

export function isDay(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && addDays(s, 0) === s;
}

/** Days from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
}

/** The period's problem, or null: what the server would refuse, said before asking it. */
export function periodError(from: string, to: string): string | null {
  if (!isDay(from) || !isDay(to)) return 'Pick both days.';
  if (from > to) return 'The first day is after the last.';
  if (daysBetween(from, to) > REPORT_DAYS_MAX) return `A report covers at most ${REPORT_DAYS_MAX} days.`;
  return null;
}

/** The default period: REPORT_DAYS_DEFAULT days ending today (UTC). */
export function defaultPeriod(now: Date = new Date()): { from: string; to: string } {
  const to = todayUtc(now);
  return { from: addDays(to, -(REPORT_DAYS_DEFAULT - 1)), to };
}

/**
 * A chart point: the day, and for each figure its count, its volume in major
 * units (to draw) and the exact volume in minor units (`<figure>_minor`, to show).
 */
export type SeriesPoint = { date: string } & Record<string, number | string>;

/** One point per day of the period for a currency, zeros where the report has no row. */
export function dailySeries(report: DailyReport, currency: string, figures: string[]): SeriesPoint[] {
  const byDay = new Map<string, DailyRollup>();
  for (const r of report.data) if (r.currency === currency && r.date) byDay.set(r.date, r);
  const n = Math.min(daysBetween(report.from, report.to), REPORT_DAYS_MAX);
  const out: SeriesPoint[] = [];
  for (let i = 0; i < n; i++) {
    const date = addDays(report.from, i);
    const row = byDay.get(date);
    const point: SeriesPoint = { date };
    for (const f of figures) {
      const v = row?.[f];
      const fig = isFigure(v) ? v : { count: 0, volume: 0 };
      point[`${f}_count`] = Number(fig.count);
      point[`${f}_volume`] = Number(minorToDecimal(fig.volume, currency));
      point[`${f}_minor`] = String(fig.volume);
    }
    out.push(point);
  }
  return out;
}

/** The totals row of a currency: the server's, or the days summed (with BigInt) when it sent none. */
export function totalsOf(report: DailyReport, currency: string, figures: string[]): Record<string, { count: bigint; volume: bigint }> {
  const server = report.totals?.find((t) => t.currency === currency);
  const out: Record<string, { count: bigint; volume: bigint }> = {};
  for (const f of figures) out[f] = { count: 0n, volume: 0n };
  const rows = server ? [server] : report.data.filter((r) => r.currency === currency);
  for (const r of rows) {
    for (const f of figures) {
      const v = r[f];
      if (!isFigure(v)) continue;
      out[f].count += BigInt(v.count);
      out[f].volume += BigInt(v.volume);
    }
  }
  return out;
}
