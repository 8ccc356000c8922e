// Daily reports (role finance): every tenant's daily rollups (or one
// tenant's) summed by day, for a period and a currency, both in the URL
// (?from=&to=&currency=&tenant=): counts and volumes per day by status in
// charts, and the period's totals in a table. Figures the server adds
// (flagged, blocked, rejected in review) appear when its answer has them.
import { useMemo } from 'react';
import { useSearchParams } from 'react-router';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useGetDailyReportQuery } from '../store/api';
import { TenantPicker } from '../components/TenantPicker';
import { CURRENCIES, formatMoney } from '../lib/money';
import { formatTime } from '../lib/ids';
import { FIGURE_COLORS, dailySeries, defaultPeriod, figureLabel, figuresOf, periodError, totalsOf } from '../lib/reports';
import { Empty, ErrorState, Loading, PageTitle } from '../components/common';

const CHART_HEIGHT = 280;
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export default function ReportsPage() {
  const [params, setParams] = useSearchParams();
  const defaults = useMemo(() => defaultPeriod(), []);
  const from = params.get('from') || defaults.from;
  const to = params.get('to') || defaults.to;
  const currency = params.get('currency') || 'USD';
  const tenant = params.get('tenant') || '';
  const problem = periodError(from, to);
  const q = useGetDailyReportQuery({ from, to, currency, tenant: tenant || undefined }, { skip: !!problem });
  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    next.set('from', from);
    next.set('to', to);
    next.set('currency', currency);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next);
  };

  const r = q.data;
  const figures = useMemo(() => (r ? figuresOf([...r.data, ...(r.totals ?? [])]) : []), [r]);
  const series = useMemo(() => (r ? dailySeries(r, currency, figures) : []), [r, currency, figures]);
  const totals = useMemo(() => (r ? totalsOf(r, currency, figures) : {}), [r, currency, figures]);
  const empty = r !== undefined && !r.data.some((d) => d.currency === currency);
  // The legend in the figures' order (created, succeeded, ...), not by name.
  const legendOrder = (item: { dataKey?: unknown }) => figures.indexOf(String(item.dataKey).replace(/_(count|volume)$/, ''));

  return (
    <>
      <PageTitle>Reports</PageTitle>
      <Paper sx={{ p: 2, mb: 2, display: 'flex', gap: 2, flexWrap: 'wrap', alignItems: 'center' }} data-testid="report-controls">
        <TextField
          size="small"
          type="date"
          label="From (UTC)"
          value={from}
          onChange={(e) => e.target.value && set('from', e.target.value)}
          slotProps={{ inputLabel: { shrink: true }, htmlInput: { 'data-testid': 'report-from' } }}
        />
        <TextField
          size="small"
          type="date"
          label="To (UTC)"
          value={to}
          onChange={(e) => e.target.value && set('to', e.target.value)}
          slotProps={{ inputLabel: { shrink: true }, htmlInput: { 'data-testid': 'report-to' } }}
        />
        <TextField size="small" select label="Currency" value={currency} onChange={(e) => set('currency', e.target.value)} sx={{ minWidth: 110 }} slotProps={{ htmlInput: { 'data-testid': 'report-currency' } }}>
          {CURRENCIES.map((c) => (
            <MenuItem key={c} value={c}>
              {c}
            </MenuItem>
          ))}
        </TextField>
        <TenantPicker value={tenant} onChange={(t) => set('tenant', t)} all="Every tenant" testId="report-tenant" minWidth={200} />
        {r && (
          <Typography variant="body2" color="text.secondary" data-testid="report-as-of">
            {r.as_of ? `Rolled up to ${formatTime(r.as_of)}` : 'Not rolled up yet'} · by the day each payment (or refund) was created
          </Typography>
        )}
      </Paper>
      {problem && <Alert severity="warning">{problem}</Alert>}
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {r && empty && <Empty>No {currency} payments from {from} to {to}.</Empty>}
      {r && !empty && (
        <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'minmax(0, 1fr)', lg: 'minmax(0, 1fr) minmax(0, 1fr)' } }}>
          <Paper sx={{ p: 2 }}>
            <Typography variant="subtitle1" component="h2">
              Payments per day
            </Typography>
            <Box sx={{ height: CHART_HEIGHT }} data-testid="report-count-chart">
              <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 600, height: CHART_HEIGHT }}>
                <BarChart data={series} margin={{ left: -10, right: 8 }}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="date" minTickGap={24} />
                  <YAxis allowDecimals={false} />
                  <Tooltip />
                  <Legend itemSorter={legendOrder} />
                  {figures.map((f) => (
                    <Bar key={f} dataKey={`${f}_count`} name={figureLabel(f)} fill={FIGURE_COLORS[f] ?? '#0891b2'} isAnimationActive={false} />
                  ))}
                </BarChart>
              </ResponsiveContainer>
            </Box>
          </Paper>
          <Paper sx={{ p: 2 }}>
            <Typography variant="subtitle1" component="h2">
              Volume per day ({currency})
            </Typography>
            <Box sx={{ height: CHART_HEIGHT }} data-testid="report-volume-chart">
              <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 600, height: CHART_HEIGHT }}>
                <LineChart data={series} margin={{ left: 0, right: 8 }}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="date" minTickGap={24} />
                  <YAxis tickFormatter={(v: number) => compact.format(v)} />
                  <Tooltip content={<VolumeTooltip currency={currency} />} />
                  <Legend itemSorter={legendOrder} />
                  {figures.map((f) => (
                    <Line key={f} type="monotone" dataKey={`${f}_volume`} name={figureLabel(f)} stroke={FIGURE_COLORS[f] ?? '#0891b2'} dot={false} isAnimationActive={false} />
                  ))}
                </LineChart>
              </ResponsiveContainer>
            </Box>
          </Paper>
          <TableContainer component={Paper} sx={{ gridColumn: '1 / -1' }}>
            <Typography variant="subtitle1" component="h2" sx={{ px: 2, pt: 2 }}>
              Totals, {from} to {to} ({currency})
            </Typography>
            <Table size="small" data-testid="report-totals">
              <TableHead>
                <TableRow>
                  <TableCell>Status</TableCell>
                  <TableCell align="right">Count</TableCell>
                  <TableCell align="right">Volume</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {figures.map((f) => (
                  <TableRow key={f} data-testid="report-total" data-figure={f}>
                    <TableCell>{figureLabel(f)}</TableCell>
                    <TableCell align="right" sx={{ fontVariantNumeric: 'tabular-nums' }}>
                      {totals[f]?.count.toLocaleString('en-US') ?? '0'}
                    </TableCell>
                    <TableCell align="right" sx={{ fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' }}>
                      {formatMoney(totals[f]?.volume ?? 0n, currency)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </TableContainer>
        </Box>
      )}
    </>
  );
}

/** The volume chart's tooltip: each figure's exact volume of the day, formatted by the currency's minor units. */
function VolumeTooltip({ currency, active, payload, label }: { currency: string; active?: boolean; payload?: { dataKey?: unknown; name?: unknown; color?: string; payload?: Record<string, unknown> }[]; label?: unknown }) {
  if (!active || !payload?.length) return null;
  const point = payload[0].payload ?? {};
  return (
    <Paper sx={{ p: 1 }} elevation={3}>
      <Typography variant="body2" sx={{ fontWeight: 600 }}>
        {String(label)}
      </Typography>
      {payload.map((p) => {
        const key = String(p.dataKey ?? '');
        const minor = point[`${key.replace(/_volume$/, '')}_minor`];
        return (
          <Typography key={key} variant="body2" sx={{ color: p.color }}>
            {String(p.name)}: {typeof minor === 'string' ? formatMoney(minor, currency) : String(point[key] ?? '')}
          </Typography>
        );
      })}
    </Paper>
  );
}
