// Money is integer minor units everywhere. Display and input go through
// strings and BigInt: no float division or multiplication of amounts.

const EXPONENTS: Record<string, number> = { JPY: 0, KRW: 0, BHD: 3 };

export const CURRENCIES = ['AUD', 'BHD', 'CAD', 'CHF', 'EUR', 'GBP', 'JPY', 'KRW', 'SEK', 'USD'];

/** The number of minor-unit digits of a currency (JPY/KRW 0, BHD 3, others 2). */
export function exponent(currency: string): number {
  return EXPONENTS[currency.toUpperCase()] ?? 2;
}

/** An integer of minor units as a BigInt, or null if it is not one. */
function toBigInt(minor: number | string | bigint): bigint | null {
  if (typeof minor === 'bigint') return minor;
  if (typeof minor === 'number') return Number.isInteger(minor) ? BigInt(minor) : null;
  return /^-?\d+$/.test(minor.trim()) ? BigInt(minor.trim()) : null;
}

/** Minor units as a plain decimal string in major units: 1050 USD -> "10.50". */
export function minorToDecimal(minor: number | string | bigint, currency: string): string {
  const v = toBigInt(minor);
  if (v === null) return String(minor);
  const exp = exponent(currency);
  const neg = v < 0n;
  let digits = (neg ? -v : v).toString();
  if (exp > 0) {
    digits = digits.padStart(exp + 1, '0');
    digits = `${digits.slice(0, -exp)}.${digits.slice(-exp)}`;
  }
  return (neg ? '-' : '') + digits;
}

const formatters = new Map<string, Intl.NumberFormat>();

/** Minor units formatted for people: 1050 USD -> "$10.50", 1000 JPY -> "¥1,000". */
export function formatMoney(minor: number | string | bigint | null | undefined, currency: string): string {
  if (minor === null || minor === undefined) return '—';
  const cur = currency.toUpperCase();
  const exp = exponent(cur);
  let f = formatters.get(cur);
  if (!f) {
    try {
      f = new Intl.NumberFormat('en-US', {
        style: 'currency',
        currency: cur,
        minimumFractionDigits: exp,
        maximumFractionDigits: exp,
      });
    } catch {
      return `${minorToDecimal(minor, cur)} ${cur}`;
    }
    formatters.set(cur, f);
  }
  // Intl.NumberFormat formats a decimal string exactly (no float conversion).
  return f.format(minorToDecimal(minor, cur) as unknown as number);
}

export type ParseResult = { ok: true; minor: bigint } | { ok: false; error: string };

/**
 * A decimal string in major units to integer minor units: "10.5" USD -> 1050n.
 * Refuses more fraction digits than the currency has, exponents, and junk.
 */
export function parseMajor(input: string, currency: string, opts: { signed?: boolean } = {}): ParseResult {
  const s = input.trim().replace(/,/g, '');
  const exp = exponent(currency);
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(s) ?? /^([+-]?)()\.(\d+)$/.exec(s);
  if (!m) return { ok: false, error: 'Enter an amount like 10.50' };
  const [, sign, whole, frac = ''] = m;
  if (sign === '-' && !opts.signed) return { ok: false, error: 'The amount must be positive' };
  if (frac.length > exp) {
    return {
      ok: false,
      error: exp === 0 ? `${currency} has no minor units` : `${currency} has ${exp} decimal places at most`,
    };
  }
  const minor = BigInt((whole || '0') + frac.padEnd(exp, '0'));
  return { ok: true, minor: sign === '-' ? -minor : minor };
}

/** A BigInt amount as a JSON-safe number, or null when it would lose precision. */
export function minorToJsonNumber(minor: bigint): number | null {
  const n = Number(minor);
  return Number.isSafeInteger(n) ? n : null;
}
