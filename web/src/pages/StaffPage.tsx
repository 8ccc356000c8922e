import { useState } from 'react';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import { useListStaffQuery, useStaffActionMutation } from '../store/api';
import { useAppSelector } from '../store/store';
import { useRawCall } from '../store/rawCall';
import { formatTime } from '../lib/ids';
import type { Role } from '../lib/roles';
import type { Staff } from '../store/types';
import { ActionButton } from '../components/ConfirmAction';
import { SecretDialog } from '../components/SecretDialog';
import { Empty, ErrorState, Loading, PageTitle, StatusChip } from '../components/common';

const ROLES: Role[] = ['viewer', 'support', 'finance', 'admin'];

/** Disable (or enable again) a member: admins only, never on one's own row (the server refuses it). */
export function StaffStateAction({ staff }: { staff: Staff }) {
  const [act] = useStaffActionMutation();
  const me = useAppSelector((s) => s.session.staff?.id);
  if (staff.id === me) return null;
  const disabled = !!staff.disabled_at;
  return (
    <ActionButton
      need="admin"
      label={disabled ? 'Enable' : 'Disable'}
      danger={!disabled}
      testId={disabled ? 'enable-staff-button' : 'disable-staff-button'}
      title={`${disabled ? 'Enable' : 'Disable'} ${staff.email}`}
      description={disabled ? 'They can log in again.' : 'Their sessions end at once and they cannot log in until enabled again.'}
      confirmLabel={disabled ? 'Enable' : 'Disable'}
      run={async (reason, idempotencyKey) => {
        await act({ id: staff.id, action: disabled ? 'enable' : 'disable', reason, idempotencyKey }).unwrap();
        return `${staff.email} ${disabled ? 'enabled' : 'disabled'}.`;
      }}
    />
  );
}

export default function StaffPage() {
  const q = useListStaffQuery();
  const raw = useRawCall();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState<string | null>(null);

  return (
    <>
      <PageTitle
        actions={
          <ActionButton
            need="admin"
            label="Add staff"
            testId="create-staff-button"
            title="New staff member"
            confirmLabel="Create"
            onOpen={() => {
              setEmail('');
              setRole('viewer');
            }}
            fields={
              <Stack spacing={2}>
                <TextField label="Email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} slotProps={{ htmlInput: { 'data-testid': 'staff-email' } }} />
                <TextField select label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
                  {ROLES.map((r) => (
                    <MenuItem key={r} value={r}>
                      {r}
                    </MenuItem>
                  ))}
                </TextField>
              </Stack>
            }
            validate={() => (/^[^\s@]+@[^\s@]+$/.test(email.trim()) ? null : 'Enter an email address')}
            run={async (reason, idempotencyKey) => {
              const s = await raw<Staff & { password?: string }>(
                { url: '/staff', method: 'POST', body: { email: email.trim().toLowerCase(), role, reason }, idempotencyKey },
                ['Staff', 'Audit'],
              );
              setPassword(s.password ?? '(the server returned no password)');
            }}
          />
        }
      >
        Staff
      </PageTitle>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>No staff.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer component={Paper}>
          <Table size="small" data-testid="staff-table">
            <TableHead>
              <TableRow>
                <TableCell>Email</TableCell>
                <TableCell>Role</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Id</TableCell>
                <TableCell>Status</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Created</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((s) => (
                <TableRow key={s.id} data-testid="staff-row">
                  <TableCell sx={{ wordBreak: 'break-all' }}>{s.email}</TableCell>
                  <TableCell>{s.role}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>{s.id}</TableCell>
                  <TableCell data-testid="staff-status" title={s.disabled_at ? `Disabled ${formatTime(s.disabled_at)}` : undefined}>
                    <StatusChip status={s.disabled_at ? 'disabled' : 'active'} />
                  </TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>{formatTime(s.created_at)}</TableCell>
                  <TableCell>
                    <StaffStateAction staff={s} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      <SecretDialog title="The new staff member's password" secret={password} onClose={() => setPassword(null)} />
    </>
  );
}
