// Risk rules as the console edits them (docs/risk.md): each kind's params,
// a form's draft (what a person typed: amounts in major units) turned into
// the API's rule (minor units), checked as the server checks it, and a rule's
// params said in words.
import type { RiskRuleInput } from '../store/api';
import { formatMoney, minorToJsonNumber, parseMajor } from './money';

export const RULE_KINDS = [
  'amount_above',
  'velocity_count',
  'velocity_amount',
  'new_account_amount',
  'listed',
  'currency_not_allowed',
  'metadata_equals',
] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const KIND_LABELS: Record<RuleKind, string> = {
  amount_above: 'Amount above',
  velocity_count: 'Too many payments in a window',
  velocity_amount: 'Too much in a window',
  new_account_amount: "A new account's first large payment",
  listed: 'Payer or payee on a list',
  currency_not_allowed: 'Currency not allowed',
  metadata_equals: 'Metadata equals',
};

/** The params each kind takes (docs/risk.md's table), for the form. */
export const KIND_PARAMS: Record<RuleKind, string[]> = {
  amount_above: ['amount', 'currency'],
  velocity_count: ['count', 'window_minutes'],
  velocity_amount: ['amount', 'currency', 'window_minutes'],
  new_account_amount: ['amount', 'currency', 'account_age_hours'],
  listed: ['list', 'party'],
  currency_not_allowed: ['allowed'],
  metadata_equals: ['key', 'value'],
};

export const ACTIONS = ['allow', 'review', 'block'] as const;
export const MODES = ['active', 'shadow'] as const;
export const PARTIES = ['payer', 'payee', 'either'] as const;
/** A score's default by action (docs/risk.md). */
export const DEFAULT_SCORE: Record<(typeof ACTIONS)[number], number> = { allow: 0, review: 50, block: 90 };
/** docs/risk.md: a window is 1 to 10,080 minutes (7 days), whole hours past 60. */
export const WINDOW_MINUTES_MAX = 10080;
export const LIST_NAME_RE = /^[a-z0-9_]{1,64}$/;
export const DEFAULT_LIST = 'blocklist';
export const RULE_NAME_MAX = 200;
/** The server's checks of params (src/risk): counts, metadata keys and values. */
export const COUNT_MAX = 1_000_000;
export const METADATA_KEY_MAX = 64;
export const METADATA_VALUE_MAX = 256;
export const ACCOUNT_AGE_HOURS_MAX = 8760;

export interface RuleDraft {
  name: string;
  kind: RuleKind;
  action: (typeof ACTIONS)[number];
  mode: (typeof MODES)[number];
  score: string;
  amount: string; // major units, as typed
  currency: string;
  count: string;
  window_minutes: string;
  account_age_hours: string;
  list: string;
  party: (typeof PARTIES)[number];
  allowed: string[];
  key: string;
  value: string;
}

export const EMPTY_DRAFT: RuleDraft = {
  name: '',
  kind: 'amount_above',
  action: 'review',
  mode: 'active',
  score: '',
  amount: '',
  currency: 'USD',
  count: '',
  window_minutes: '60',
  account_age_hours: '24',
  list: DEFAULT_LIST,
  party: 'either',
  allowed: [],
  key: '',
  value: '',
};

export type DraftResult = { ok: true; rule: RiskRuleInput } | { ok: false; field: string; error: string };

const wholeNumber = (s: string) => /^\d+$/.test(s.trim());

/** The score typed, or the action's default; null when it is not 0..100. */
export function scoreOf(score: string, action: (typeof ACTIONS)[number]): number | null {
  if (!score.trim()) return DEFAULT_SCORE[action];
  if (!wholeNumber(score)) return null;
  const n = Number(score);
  return n >= 0 && n <= 100 ? n : null;
}

/** The window's problem, or null. */
export function windowError(s: string): string | null {
  if (!wholeNumber(s)) return 'A whole number of minutes';
  const n = Number(s);
  if (n < 1 || n > WINDOW_MINUTES_MAX) return `From 1 to ${WINDOW_MINUTES_MAX} minutes (7 days)`;
  if (n > 60 && n % 60 !== 0) return 'Past 60 minutes, a whole number of hours (120, 180, ...)';
  return null;
}

/** The draft as the API's rule, or the first field at fault. */
export function draftToRule(d: RuleDraft): DraftResult {
  const fail = (field: string, error: string): DraftResult => ({ ok: false, field, error });
  if (d.name.length > RULE_NAME_MAX) return fail('name', `At most ${RULE_NAME_MAX} characters`);
  const score = scoreOf(d.score, d.action);
  if (score === null) return fail('score', 'A whole number from 0 to 100');
  const params: Record<string, unknown> = {};
  for (const p of KIND_PARAMS[d.kind]) {
    switch (p) {
      case 'amount': {
        const r = parseMajor(d.amount, d.currency);
        if (!d.amount.trim()) return fail('amount', 'An amount is required');
        if (!r.ok) return fail('amount', r.error);
        const n = minorToJsonNumber(r.minor);
        if (n === null || n < 1) return fail('amount', 'The amount is out of range');
        params.amount = n;
        break;
      }
      case 'currency':
        params.currency = d.currency;
        break;
      case 'count':
        if (!wholeNumber(d.count) || Number(d.count) < 1 || Number(d.count) > COUNT_MAX) return fail('count', `A whole number from 1 to ${COUNT_MAX.toLocaleString('en-US')}`);
        params.count = Number(d.count);
        break;
      case 'window_minutes': {
        const e = windowError(d.window_minutes);
        if (e) return fail('window_minutes', e);
        params.window_minutes = Number(d.window_minutes);
        break;
      }
      case 'account_age_hours':
        if (!wholeNumber(d.account_age_hours) || Number(d.account_age_hours) < 1 || Number(d.account_age_hours) > ACCOUNT_AGE_HOURS_MAX)
          return fail('account_age_hours', `A whole number of hours, 1 to ${ACCOUNT_AGE_HOURS_MAX}`);
        params.account_age_hours = Number(d.account_age_hours);
        break;
      case 'list':
        if (!LIST_NAME_RE.test(d.list)) return fail('list', '1 to 64 of a-z, 0-9 and _');
        params.list = d.list;
        break;
      case 'party':
        params.party = d.party;
        break;
      case 'allowed':
        if (d.allowed.length === 0) return fail('allowed', 'Allow at least one currency');
        params.allowed = [...d.allowed].sort();
        break;
      case 'key':
        if (!d.key || d.key.length > METADATA_KEY_MAX) return fail('key', `A metadata key of 1 to ${METADATA_KEY_MAX} characters`);
        params.key = d.key;
        break;
      case 'value':
        if (d.value.length > METADATA_VALUE_MAX) return fail('value', `At most ${METADATA_VALUE_MAX} characters`);
        params.value = d.value;
        break;
    }
  }
  return { ok: true, rule: { name: d.name.trim() ? d.name.trim() : null, kind: d.kind, params, action: d.action, mode: d.mode, score } };
}

const minutes = (m: unknown) => {
  const n = Number(m);
  if (!Number.isFinite(n)) return String(m);
  if (n >= 60 && n % 60 === 0) return n === 60 ? '1 hour' : `${n / 60} hours`;
  return n === 1 ? '1 minute' : `${n} minutes`;
};

const money = (amount: unknown, currency: unknown) =>
  typeof currency === 'string' && (typeof amount === 'number' || typeof amount === 'string') ? formatMoney(amount, currency) : String(amount);

/** A rule's params in words: "above $1,000.00", "more than 10 payments in 1 hour". */
export function describeParams(kind: string, p: Record<string, unknown>): string {
  switch (kind) {
    case 'amount_above':
      return `${p.currency} payments above ${money(p.amount, p.currency)}`;
    case 'velocity_count':
      return `more than ${p.count} payments by a payer in ${minutes(p.window_minutes)}`;
    case 'velocity_amount':
      return `a payer's ${p.currency} payments above ${money(p.amount, p.currency)} in ${minutes(p.window_minutes)}`;
    case 'new_account_amount':
      return `a payer's first payment above ${money(p.amount, p.currency)} within ${p.account_age_hours ?? 24} h of its creation`;
    case 'listed':
      return `${p.party ?? 'either'} on list ${p.list ?? DEFAULT_LIST}`;
    case 'currency_not_allowed':
      return `currency not in ${Array.isArray(p.allowed) ? p.allowed.join(', ') : String(p.allowed)}`;
    case 'metadata_equals':
      return `metadata.${p.key} = "${p.value}"`;
    default:
      return JSON.stringify(p);
  }
}
