import { useEffect, useMemo, useRef } from 'react';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Cell, Legend, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useGetOverviewQuery } from '../store/api';
import { snapshotLoaded, tick, toEpochSeconds } from '../store/overviewSlice';
import { useAppDispatch, useAppSelector } from '../store/store';
import { useStream } from '../lib/useStream';
import { formatMoney, minorToDecimal } from '../lib/money';
import { formatTime } from '../lib/ids';
import { DotIcon } from '../components/icons';
import { ErrorState, Loading, PageTitle } from '../components/common';
import { Link as RouterLink } from 'react-router';
import Link from '@mui/material/Link';
import List from '@mui/material/List';
import ListItem from '@mui/material/ListItem';
import ListItemText from '@mui/material/ListItemText';

function Stat({ label, value, testId, tone }: { label: string; value: string; testId: string; tone?: 'error' | 'warning' | 'success' }) {
  return (
    <Paper sx={{ p: 2, minWidth: 0 }}>
      <Typography variant="body2" color="text.secondary">
        {label}
      </Typography>
      <Typography variant="h5" component="p" color={tone ? `${tone}.main` : undefined} data-testid={testId} sx={{ fontVariantNumeric: 'tabular-nums' }}>
        {value}
      </Typography>
    </Paper>
  );
}

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(1)}%`);
const ms = (x: number | null) => (x === null ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);

export function ConnectionIndicator() {
  const c = useAppSelector((s) => s.overview.connection);
  const color = c === 'open' ? 'success' : c === 'closed' ? 'default' : 'warning';
  const label = c === 'open' ? 'Live' : c === 'connecting' ? 'Connecting…' : c === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  return <Chip icon={<DotIcon />} color={color} label={label} variant="outlined" data-testid="stream-status" data-state={c} aria-live="polite" />;
}

export default function OverviewPage() {
  const dispatch = useAppDispatch();
  const q = useGetOverviewQuery(undefined, { refetchOnMountOrArgChange: true });
  const o = useAppSelector((s) => s.overview);
  const skew = useRef(0); // the server's clock minus ours, in seconds

  useEffect(() => {
    if (q.data) {
      skew.current = toEpochSeconds(q.data.at) - Math.floor(Date.now() / 1000) || 0;
      dispatch(snapshotLoaded(q.data));
    }
  }, [q.data, dispatch]);

  useStream(() => void q.refetch());

  useEffect(() => {
    const id = setInterval(() => dispatch(tick(Math.floor(Date.now() / 1000) + skew.current)), 1000);
    return () => clearInterval(id);
  }, [dispatch]);

  const series = useMemo(
    () => o.series.map((b) => ({ ...b, label: new Date(b.t * 1000).toISOString().slice(14, 19) })),
    [o.series],
  );
  const last10 = o.series.slice(-10);
  const pps = last10.length ? last10.reduce((a, b) => a + b.created, 0) / last10.length : 0;
  const volume = useMemo(
    () =>
      o.volume.map((v) => ({
        currency: v.currency,
        // For the bars' heights only; labels show the exact amounts.
        created: Number(minorToDecimal(v.created_amount, v.currency)),
        succeeded: Number(minorToDecimal(v.succeeded_amount, v.currency)),
        createdText: formatMoney(v.created_amount, v.currency),
        succeededText: formatMoney(v.succeeded_amount, v.currency),
        count: v.count,
      })),
    [o.volume],
  );
  const dl = o.deadLetters;
  const dlTotal = (dl.payments ?? 0) + (dl.refunds ?? 0) + (dl.webhooks ?? 0);
  const rates = [
    { name: 'Succeeded', value: o.successRate ?? 0, fill: '#16a34a' },
    { name: 'Declined', value: o.declineRate ?? 0, fill: '#dc2626' },
  ];

  return (
    <>
      <PageTitle actions={<ConnectionIndicator />}>Overview</PageTitle>
      {q.isError && !o.loaded && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {!o.loaded && q.isLoading && <Loading />}
      {o.loaded && (
        <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'minmax(0, 1fr) minmax(0, 1fr)', md: 'repeat(6, minmax(0, 1fr))' } }}>
          <Stat label="Payments / s (10 s)" value={pps.toFixed(1)} testId="overview-pps" />
          <Stat label="Success rate" value={pct(o.successRate)} testId="overview-success-rate" tone="success" />
          <Stat label="Decline rate" value={pct(o.declineRate)} testId="overview-decline-rate" tone={o.declineRate && o.declineRate > 0.1 ? 'error' : undefined} />
          <Stat label="Settlement lag p50 / p99" value={`${ms(o.lagP50)} / ${ms(o.lagP99)}`} testId="overview-settlement-lag" />
          <Stat label={`Dead letters (${dl.payments ?? 0} pay · ${dl.refunds ?? 0} ref · ${dl.webhooks ?? 0} wh)`} value={String(dlTotal)} testId="overview-dead-letters" tone={dlTotal ? 'warning' : undefined} />
          <Stat
            label={`Provider breaker${o.breaker.since ? ` since ${formatTime(o.breaker.since)}` : ''}`}
            value={o.breaker.state.replace('_', ' ')}
            testId="overview-breaker"
            tone={o.breaker.state === 'closed' ? 'success' : o.breaker.state === 'open' ? 'error' : 'warning'}
          />
          <Paper sx={{ p: 2, gridColumn: { xs: '1 / -1', md: 'span 4' } }}>
            <Typography variant="subtitle1" component="h2">
              Payments per second (last {Math.round(o.windowS / 60)} min)
            </Typography>
            <Box sx={{ height: 260 }} data-testid="overview-series-chart">
              <ResponsiveContainer width="100%" height="100%">
                <AreaChart data={series} margin={{ left: -20, right: 8 }}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="label" minTickGap={40} />
                  <YAxis allowDecimals={false} />
                  <Tooltip />
                  <Legend />
                  <Area type="monotone" dataKey="created" stroke="#1d4ed8" fill="#1d4ed8" fillOpacity={0.15} isAnimationActive={false} />
                  <Area type="monotone" dataKey="succeeded" stroke="#16a34a" fill="#16a34a" fillOpacity={0.15} isAnimationActive={false} />
                  <Area type="monotone" dataKey="failed" stroke="#dc2626" fill="#dc2626" fillOpacity={0.15} isAnimationActive={false} />
                </AreaChart>
              </ResponsiveContainer>
            </Box>
          </Paper>
          <Paper sx={{ p: 2, gridColumn: { xs: '1 / -1', md: 'span 2' } }}>
            <Typography variant="subtitle1" component="h2">
              Final payments
            </Typography>
            <Box sx={{ height: 260 }}>
              {o.successRate === null && o.declineRate === null ? (
                <Typography color="text.secondary">No final payments in the window.</Typography>
              ) : (
                <ResponsiveContainer width="100%" height="100%">
                  <PieChart>
                    <Pie data={rates} dataKey="value" nameKey="name" innerRadius="55%" outerRadius="85%" isAnimationActive={false}>
                      {rates.map((r) => (
                        <Cell key={r.name} fill={r.fill} />
                      ))}
                    </Pie>
                    <Tooltip formatter={(v) => pct(Number(v))} />
                    <Legend />
                  </PieChart>
                </ResponsiveContainer>
              )}
            </Box>
          </Paper>
          <Paper sx={{ p: 2, gridColumn: '1 / -1' }} data-testid="live-feed">
            <Typography variant="subtitle1" component="h2">
              Latest events
            </Typography>
            {o.recent.length === 0 ? (
              <Typography color="text.secondary">No event since this page opened; new ones appear here as they happen.</Typography>
            ) : (
              <List dense aria-live="polite">
                {o.recent.map((e) => (
                  <ListItem key={e.id ?? `${e.type}-${e.payment}-${e.at}`} disableGutters data-testid="live-event">
                    <ListItemText
                      primary={
                        <>
                          {e.type} ·{' '}
                          <Link component={RouterLink} to={`/payments/${e.payment}`}>
                            {e.payment}
                          </Link>{' '}
                          · {formatMoney(String(e.amount), e.currency)}
                        </>
                      }
                      secondary={`${e.tenant} · ${formatTime(e.at ?? e.created_at)}`}
                    />
                  </ListItem>
                ))}
              </List>
            )}
          </Paper>
          <Paper sx={{ p: 2, gridColumn: '1 / -1' }}>
            <Typography variant="subtitle1" component="h2">
              Volume by currency (window)
            </Typography>
            <Box sx={{ height: 260 }} data-testid="overview-volume-chart">
              {volume.length === 0 ? (
                <Typography color="text.secondary">No payments in the window.</Typography>
              ) : (
                <ResponsiveContainer width="100%" height="100%">
                  <BarChart data={volume} margin={{ left: 0, right: 8 }}>
                    <CartesianGrid strokeDasharray="3 3" />
                    <XAxis dataKey="currency" />
                    <YAxis hide />
                    <Tooltip
                      formatter={(_v, name, item) => {
                        const p = item.payload as (typeof volume)[number];
                        return [name === 'created' ? p.createdText : p.succeededText, name === 'created' ? `created (${p.count})` : 'succeeded'];
                      }}
                    />
                    <Legend />
                    <Bar dataKey="created" fill="#1d4ed8" isAnimationActive={false} />
                    <Bar dataKey="succeeded" fill="#16a34a" isAnimationActive={false} />
                  </BarChart>
                </ResponsiveContainer>
              )}
            </Box>
          </Paper>
        </Box>
      )}
    </>
  );
}
