import MenuItem from '@mui/material/MenuItem';
import TextField from '@mui/material/TextField';
import { useListTenantOptionsQuery } from '../store/api';

/**
 * A select of the tenants (the first 100): "Every tenant" (value '') when
 * `all` names it, else "Pick a tenant". A value the list lacks (from the
 * URL) is kept as an option of its own.
 */
export function TenantPicker({ value, onChange, all, testId, minWidth = 220 }: { value: string; onChange: (tenant: string) => void; all?: string; testId: string; minWidth?: number }) {
  const q = useListTenantOptionsQuery();
  const tenants = q.data?.data ?? [];
  const known = !value || tenants.some((t) => t.id === value);
  return (
    <TextField
      size="small"
      select
      label="Tenant"
      value={q.data || !value ? value : ''}
      onChange={(e) => onChange(e.target.value)}
      sx={{ minWidth }}
      slotProps={{ htmlInput: { 'data-testid': testId }, select: { displayEmpty: !!all }, inputLabel: all ? { shrink: true } : undefined }}
    >
      {all ? (
        <MenuItem value="">{all}</MenuItem>
      ) : (
        <MenuItem value="" disabled>
          Pick a tenant
        </MenuItem>
      )}
      {tenants.map((t) => (
        <MenuItem key={t.id} value={t.id}>
          {t.name} ({t.id})
        </MenuItem>
      ))}
      {!known && q.data && <MenuItem value={value}>{value}</MenuItem>}
    </TextField>
  );
}
