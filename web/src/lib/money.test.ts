import { describe, expect, it } from 'vitest';
import { exponent, formatMoney, minorToDecimal, parseMajor } from './money';

describe('exponent', () => {
  it('knows the zero- and three-digit currencies', () => {
    expect(exponent('JPY')).toBe(0);
    expect(exponent('KRW')).toBe(0);
    expect(exponent('BHD')).toBe(3);
    expect(exponent('USD')).toBe(2);
    expect(exponent('EUR')).toBe(2);
  });
});

describe('minorToDecimal', () => {
  it('inserts the decimal point by string, not division', () => {
    expect(minorToDecimal(1050, 'USD')).toBe('10.50');
    expect(minorToDecimal(5, 'USD')).toBe('0.05');
    expect(minorToDecimal(-5, 'USD')).toBe('-0.05');
    expect(minorToDecimal(1234, 'BHD')).toBe('1.234');
    expect(minorToDecimal(1000, 'JPY')).toBe('1000');
    expect(minorToDecimal('9223372036854775807', 'USD')).toBe('92233720368547758.07');
  });
});

describe('formatMoney', () => {
  it('formats with the currency exponent', () => {
    expect(formatMoney(1050, 'USD')).toBe('$10.50');
    expect(formatMoney(123456789, 'USD')).toBe('$1,234,567.89');
    expect(formatMoney(1000, 'JPY')).toBe('¥1,000');
    expect(formatMoney(1234, 'BHD')).toMatch(/BHD\s1\.234/);
    expect(formatMoney(-250, 'EUR')).toBe('-€2.50');
  });
  it('keeps every digit of amounts beyond 2^53', () => {
    expect(formatMoney('9007199254740993', 'USD')).toBe('$90,071,992,547,409.93');
  });
  it('shows a dash for a missing amount', () => {
    expect(formatMoney(null, 'USD')).toBe('—');
  });
});

describe('parseMajor', () => {
  const minor = (s: string, c: string, signed = false) => {
    const r = parseMajor(s, c, { signed });
    return r.ok ? r.minor : r.error;
  };
  it('turns decimal strings into integer minor units without floats', () => {
    expect(minor('10.50', 'USD')).toBe(1050n);
    expect(minor('10.5', 'USD')).toBe(1050n);
    expect(minor('0.1', 'USD')).toBe(10n);
    expect(minor('1,234.56', 'USD')).toBe(123456n);
    expect(minor('.07', 'USD')).toBe(7n);
    expect(minor('1000', 'JPY')).toBe(1000n);
    expect(minor('1.234', 'BHD')).toBe(1234n);
    expect(minor('92233720368547758.07', 'USD')).toBe(9223372036854775807n);
  });
  it('refuses more decimals than the currency has, and junk', () => {
    expect(minor('1.5', 'JPY')).toMatch(/no minor units/);
    expect(minor('1.234', 'USD')).toMatch(/2 decimal places/);
    expect(minor('1e3', 'USD')).toMatch(/Enter an amount/);
    expect(minor('abc', 'USD')).toMatch(/Enter an amount/);
    expect(minor('', 'USD')).toMatch(/Enter an amount/);
  });
  it('takes a sign only when asked to', () => {
    expect(minor('-1.00', 'USD')).toMatch(/positive/);
    expect(minor('-1.00', 'USD', true)).toBe(-100n);
  });
});
