import { useState } from 'react';
import Box from '@mui/material/Box';
import Checkbox from '@mui/material/Checkbox';
import FormControlLabel from '@mui/material/FormControlLabel';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import Button from '@mui/material/Button';
import { useCreateTenantMutation, useListKeysQuery, useListTenantsQuery, useRevokeKeyMutation, useSetLimitsMutation } from '../store/api';
import { useRawCall } from '../store/rawCall';
import { formatTime } from '../lib/ids';
import { ActionButton } from '../components/ConfirmAction';
import { SecretDialog } from '../components/SecretDialog';
import { Empty, ErrorState, Loading, PageTitle, StatusChip } from '../components/common';
import type { ApiKey, Tenant } from '../store/types';

function limitsOf(t: Tenant): string {
  const per = t.rate_limit?.per_s ?? t.per_s;
  const burst = t.rate_limit?.burst ?? t.burst;
  if (per === undefined || per === null) return 'default';
  return `${per}/s, burst ${burst ?? '—'}${t.rate_limit?.default ? ' (default)' : ''}`;
}

const posInt = (s: string) => /^\d+$/.test(s.trim()) && Number(s) > 0 && Number.isSafeInteger(Number(s));

function Keys({ tenant }: { tenant: Tenant }) {
  const q = useListKeysQuery(tenant.id);
  const [revoke] = useRevokeKeyMutation();
  const raw = useRawCall();
  const [admin, setAdmin] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);

  return (
    <Box sx={{ mt: 2 }}>
      <Stack direction="row" spacing={1} sx={{ mb: 1, alignItems: 'center' }}>
        <Typography variant="subtitle1" component="h3" sx={{ flexGrow: 1 }}>
          API keys of {tenant.name}
        </Typography>
        <ActionButton
          need="admin"
          label="Create key"
          testId="create-key-button"
          title={`New API key for ${tenant.name}`}
          confirmLabel="Create"
          onOpen={() => setAdmin(false)}
          fields={<FormControlLabel control={<Checkbox checked={admin} onChange={(e) => setAdmin(e.target.checked)} />} label="Admin key (may use /admin/api, not /v1)" />}
          run={async (reason, idempotencyKey) => {
            const k = await raw<ApiKey>({ url: `/tenants/${encodeURIComponent(tenant.id)}/keys`, method: 'POST', body: { admin, reason }, idempotencyKey }, [
              { type: 'Key', id: tenant.id },
              'Tenant',
              'Audit',
            ]);
            setSecret(k.secret ?? '(the server returned no secret)');
          }}
        />
      </Stack>
      {q.isLoading && <Loading />}
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.data && q.data.data.length === 0 && <Empty>No keys.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer>
          <Table size="small" data-testid="keys-table">
            <TableHead>
              <TableRow>
                <TableCell>Key</TableCell>
                <TableCell>Prefix</TableCell>
                <TableCell>Kind</TableCell>
                <TableCell>Created</TableCell>
                <TableCell>Status</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((k) => (
                <TableRow key={k.id} data-testid="key-row">
                  <TableCell sx={{ wordBreak: 'break-all' }}>{k.id}</TableCell>
                  <TableCell>
                    <code>{k.prefix}</code>
                  </TableCell>
                  <TableCell>{k.admin ? 'admin' : 'tenant'}</TableCell>
                  <TableCell>{formatTime(k.created_at)}</TableCell>
                  <TableCell>{k.revoked_at ? <StatusChip status="revoked" /> : <StatusChip status="active" />}</TableCell>
                  <TableCell>
                    {!k.revoked_at && (
                      <ActionButton
                        need="admin"
                        label="Revoke"
                        danger
                        testId="revoke-key-button"
                        title={`Revoke ${k.id}`}
                        description="Requests with this key fail from now on."
                        confirmLabel="Revoke"
                        run={async (reason, idempotencyKey) => {
                          await revoke({ id: k.id, tenant: tenant.id, reason, idempotencyKey }).unwrap();
                          return `Key ${k.id} revoked.`;
                        }}
                      />
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      <SecretDialog title="The new API key" secret={secret} onClose={() => setSecret(null)} />
    </Box>
  );
}

export default function TenantsPage() {
  const q = useListTenantsQuery();
  const [create] = useCreateTenantMutation();
  const [setLimits] = useSetLimitsMutation();
  const [name, setName] = useState('');
  const [perS, setPerS] = useState('');
  const [burst, setBurst] = useState('');
  const [useDefault, setUseDefault] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const tenant = q.data?.data.find((t) => t.id === selected) ?? null;

  return (
    <>
      <PageTitle
        actions={
          <ActionButton
            need="admin"
            label="Create tenant"
            testId="create-tenant-button"
            title="New tenant"
            confirmLabel="Create"
            onOpen={() => setName('')}
            fields={<TextField label="Name" required value={name} onChange={(e) => setName(e.target.value)} slotProps={{ htmlInput: { maxLength: 200, 'data-testid': 'tenant-name' } }} />}
            validate={() => (name.trim() ? null : 'A name is required')}
            run={async (reason, idempotencyKey) => {
              const t = await create({ name: name.trim(), reason, idempotencyKey }).unwrap();
              return `Tenant ${t.name ?? name} created.`;
            }}
          />
        }
      >
        Tenants and API keys
      </PageTitle>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>No tenants.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer component={Paper}>
          <Table size="small" data-testid="tenants-table">
            <TableHead>
              <TableRow>
                <TableCell>Tenant</TableCell>
                <TableCell>Rate limit</TableCell>
                <TableCell align="right">Keys</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((t) => (
                <TableRow key={t.id} selected={t.id === selected} data-testid="tenant-row">
                  <TableCell>
                    {t.name}
                    <Typography variant="caption" color="text.secondary" sx={{ display: 'block' }}>
                      {t.id}
                    </Typography>
                  </TableCell>
                  <TableCell>{limitsOf(t)}</TableCell>
                  <TableCell align="right">{t.keys ? `${t.keys.active}${t.keys.admin ? ` (${t.keys.admin} admin)` : ''}` : '—'}</TableCell>
                  <TableCell>
                    <Stack direction="row" spacing={1} useFlexGap sx={{ justifyContent: 'flex-end', flexWrap: 'wrap' }}>
                      <Button size="small" onClick={() => setSelected(t.id === selected ? null : t.id)} aria-expanded={t.id === selected}>
                        Keys
                      </Button>
                      <ActionButton
                        need="admin"
                        label="Limits"
                        testId="set-limits-button"
                        title={`Rate limit of ${t.name}`}
                        confirmLabel="Set"
                        onOpen={() => {
                          setPerS(String(t.rate_limit?.per_s ?? t.per_s ?? ''));
                          setBurst(String(t.rate_limit?.burst ?? t.burst ?? ''));
                          setUseDefault(false);
                        }}
                        fields={
                          <Stack spacing={2}>
                            <FormControlLabel control={<Checkbox checked={useDefault} onChange={(e) => setUseDefault(e.target.checked)} />} label="Use the server's default" />
                            {!useDefault && (
                              <Stack direction="row" spacing={2}>
                                <TextField label="Requests per second" inputMode="numeric" value={perS} onChange={(e) => setPerS(e.target.value)} />
                                <TextField label="Burst" inputMode="numeric" value={burst} onChange={(e) => setBurst(e.target.value)} />
                              </Stack>
                            )}
                          </Stack>
                        }
                        validate={() => (useDefault || (posInt(perS) && posInt(burst)) ? null : 'Both limits must be positive whole numbers')}
                        run={async (reason, idempotencyKey) => {
                          await setLimits({ id: t.id, per_s: Number(perS), burst: Number(burst), useDefault, reason, idempotencyKey }).unwrap();
                          return `Rate limit of ${t.name} set.`;
                        }}
                      />
                    </Stack>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {tenant && (
        <Paper sx={{ p: 2, mt: 2 }}>
          <Keys tenant={tenant} />
        </Paper>
      )}
    </>
  );
}
