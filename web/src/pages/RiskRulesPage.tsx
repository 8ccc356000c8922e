// A tenant's risk rules and lists (docs/risk.md): the tenant picked in the
// URL (?tenant=), its rules with their kind's params in words, a form by kind
// to add one, each rule's mode, action and score to change, and its list
// entries (a block list of account ids) to add and remove. Read by every
// role; written by finance and admin, each write confirmed with a reason
// and its own Idempotency-Key (GET/POST /admin/api/tenants/{id}/risk_rules,
// PATCH/DELETE /admin/api/risk_rules/{id}, GET/POST
// /admin/api/tenants/{id}/risk_lists, DELETE /admin/api/risk_lists/{id}).
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import Box from '@mui/material/Box';
import Checkbox from '@mui/material/Checkbox';
import Chip from '@mui/material/Chip';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import FormHelperText from '@mui/material/FormHelperText';
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
import Typography from '@mui/material/Typography';
import {
  useAddRiskListEntryMutation,
  useCreateRiskRuleMutation,
  useDeleteRiskListEntryMutation,
  useDeleteRiskRuleMutation,
  useListRiskListEntriesQuery,
  useListRiskRulesQuery,
  useUpdateRiskRuleMutation,
} from '../store/api';
import type { RiskRule } from '../store/types';
import { CURRENCIES } from '../lib/money';
import { formatTime } from '../lib/ids';
import { nextCursor, useCursorStack } from '../lib/useCursor';
import {
  ACTIONS,
  DEFAULT_LIST,
  DEFAULT_SCORE,
  EMPTY_DRAFT,
  KIND_LABELS,
  KIND_PARAMS,
  LIST_NAME_RE,
  MODES,
  PARTIES,
  RULE_KINDS,
  describeParams,
  draftToRule,
  scoreOf,
  type RuleDraft,
  type RuleKind,
} from '../lib/riskRules';
import { ActionButton } from '../components/ConfirmAction';
import { TenantPicker } from '../components/TenantPicker';
import { Empty, ErrorState, Loading, PageTitle, Pager } from '../components/common';

/** Who may change a tenant's rules and lists (the server's table: finance and admin). */
export const RISK_WRITE_ROLE = 'finance' as const;

const ACTION_COLORS: Record<string, 'success' | 'warning' | 'error'> = { allow: 'success', review: 'warning', block: 'error' };

function RuleForm({ draft, onChange, error }: { draft: RuleDraft; onChange: (d: RuleDraft) => void; error: { field: string; error: string } | null }) {
  const set = (k: keyof RuleDraft) => (e: React.ChangeEvent<HTMLInputElement>) => onChange({ ...draft, [k]: e.target.value });
  const err = (f: string) => (error?.field === f ? error.error : undefined);
  const params = KIND_PARAMS[draft.kind];
  const field = (name: string, label: string, extra: Partial<React.ComponentProps<typeof TextField>> = {}) => (
    <TextField
      label={label}
      value={draft[name as keyof RuleDraft] as string}
      onChange={set(name as keyof RuleDraft)}
      error={!!err(name)}
      helperText={err(name) ?? extra.helperText ?? ' '}
      slotProps={{ htmlInput: { 'data-testid': `rule-${name}` } }}
      {...extra}
    />
  );
  return (
    <Stack spacing={1.5} data-testid="rule-form">
      <TextField select label="Kind" value={draft.kind} onChange={(e) => onChange({ ...draft, kind: e.target.value as RuleKind })} slotProps={{ htmlInput: { 'data-testid': 'rule-kind' } }}>
        {RULE_KINDS.map((k) => (
          <MenuItem key={k} value={k}>
            {KIND_LABELS[k]} ({k})
          </MenuItem>
        ))}
      </TextField>
      {field('name', 'Name (optional)')}
      {params.includes('amount') && (
        <Stack direction="row" spacing={1}>
          {field('amount', `Amount (${draft.currency})`, { inputMode: 'decimal', sx: { flexGrow: 1 } })}
          <TextField select label="Currency" value={draft.currency} onChange={set('currency')} sx={{ minWidth: 110 }} helperText=" ">
            {CURRENCIES.map((c) => (
              <MenuItem key={c} value={c}>
                {c}
              </MenuItem>
            ))}
          </TextField>
        </Stack>
      )}
      {params.includes('count') && field('count', 'Payments in the window', { inputMode: 'numeric', helperText: 'Matches the payment after this many' })}
      {params.includes('window_minutes') && field('window_minutes', 'Window (minutes)', { inputMode: 'numeric', helperText: '1 to 10,080; whole hours past 60' })}
      {params.includes('account_age_hours') && field('account_age_hours', 'Account age (hours)', { inputMode: 'numeric', helperText: "The payer's first payment within this many hours" })}
      {params.includes('list') && field('list', 'List', { helperText: 'a-z, 0-9 and _ (blocklist)' })}
      {params.includes('party') && (
        <TextField select label="Who is looked up" value={draft.party} onChange={set('party')}>
          {PARTIES.map((p) => (
            <MenuItem key={p} value={p}>
              {p}
            </MenuItem>
          ))}
        </TextField>
      )}
      {params.includes('allowed') && (
        <Box>
          <Typography variant="body2" color="text.secondary">
            Allowed currencies (others match)
          </Typography>
          <FormGroup row data-testid="rule-allowed">
            {CURRENCIES.map((c) => (
              <FormControlLabel
                key={c}
                label={c}
                control={
                  <Checkbox
                    size="small"
                    checked={draft.allowed.includes(c)}
                    onChange={(e) => onChange({ ...draft, allowed: e.target.checked ? [...draft.allowed, c] : draft.allowed.filter((x) => x !== c) })}
                  />
                }
              />
            ))}
          </FormGroup>
          {err('allowed') && <FormHelperText error>{err('allowed')}</FormHelperText>}
        </Box>
      )}
      {params.includes('key') && field('key', 'Metadata key')}
      {params.includes('value') && field('value', 'Metadata value')}
      <RuleSettings draft={draft} onChange={onChange} error={error} />
    </Stack>
  );
}

/** Action, mode and score: the form's end, and all an edit changes. */
function RuleSettings({ draft, onChange, error }: { draft: Pick<RuleDraft, 'action' | 'mode' | 'score'>; onChange: (d: RuleDraft) => void; error: { field: string; error: string } | null }) {
  const d = draft as RuleDraft;
  return (
    <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: 'wrap' }}>
      <TextField select label="Action" value={d.action} onChange={(e) => onChange({ ...d, action: e.target.value as RuleDraft['action'] })} sx={{ minWidth: 120 }} slotProps={{ htmlInput: { 'data-testid': 'rule-action' } }}>
        {ACTIONS.map((a) => (
          <MenuItem key={a} value={a}>
            {a}
          </MenuItem>
        ))}
      </TextField>
      <TextField select label="Mode" value={d.mode} onChange={(e) => onChange({ ...d, mode: e.target.value as RuleDraft['mode'] })} sx={{ minWidth: 120 }} slotProps={{ htmlInput: { 'data-testid': 'rule-mode' } }}>
        {MODES.map((m) => (
          <MenuItem key={m} value={m}>
            {m}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        label="Score"
        value={d.score}
        placeholder={String(DEFAULT_SCORE[d.action])}
        onChange={(e) => onChange({ ...d, score: e.target.value })}
        inputMode="numeric"
        error={error?.field === 'score'}
        helperText={error?.field === 'score' ? error.error : `0 to 100 (${DEFAULT_SCORE[d.action]} when empty)`}
        sx={{ width: 170 }}
        slotProps={{ htmlInput: { 'data-testid': 'rule-score' } }}
      />
    </Stack>
  );
}

function RuleRow({ rule, tenant }: { rule: RiskRule; tenant: string }) {
  const [update] = useUpdateRiskRuleMutation();
  const [remove] = useDeleteRiskRuleMutation();
  const [draft, setDraft] = useState<RuleDraft>(EMPTY_DRAFT);
  const score = scoreOf(draft.score, draft.action);
  const scoreError = score === null ? { field: 'score', error: 'A whole number from 0 to 100' } : null;
  const changes = { action: draft.action, mode: draft.mode, score: score ?? 0 };
  const unchanged = changes.action === rule.action && changes.mode === rule.mode && changes.score === rule.score;
  return (
    <TableRow data-testid="rule-row" data-id={rule.id} sx={{ verticalAlign: 'top', opacity: rule.mode === 'shadow' ? 0.85 : 1 }}>
      <TableCell sx={{ wordBreak: 'break-all', display: { xs: 'none', sm: 'table-cell' } }}>
        <Typography variant="body2">{rule.name ?? '—'}</Typography>
        <Typography variant="caption" color="text.secondary">
          {rule.id}
        </Typography>
      </TableCell>
      <TableCell>
        {/* On a phone the name column is hidden: the name leads here. */}
        {rule.name && (
          <Typography variant="body2" sx={{ display: { xs: 'block', sm: 'none' }, fontWeight: 600 }}>
            {rule.name}
          </Typography>
        )}
        <Typography variant="body2">{KIND_LABELS[rule.kind as RuleKind] ?? rule.kind}</Typography>
        <Typography variant="caption" color="text.secondary" data-testid="rule-params">
          {describeParams(rule.kind, rule.params)}
        </Typography>
      </TableCell>
      <TableCell>
        <Stack spacing={0.5} sx={{ alignItems: 'flex-start' }}>
          <Chip size="small" label={rule.action} color={ACTION_COLORS[rule.action] ?? 'default'} />
          <Chip size="small" label={rule.mode} variant="outlined" data-testid="rule-mode-chip" />
        </Stack>
      </TableCell>
      <TableCell align="right" sx={{ display: { xs: 'none', sm: 'table-cell' } }}>
        {rule.score}
      </TableCell>
      <TableCell sx={{ display: { xs: 'none', md: 'table-cell' }, whiteSpace: 'nowrap' }}>{formatTime(rule.updated_at)}</TableCell>
      <TableCell>
        <Stack direction={{ xs: 'column', sm: 'row' }} spacing={1}>
          <ActionButton
            need={RISK_WRITE_ROLE}
            label="Edit"
            testId="edit-rule-button"
            title={`Change ${rule.name ?? rule.id}`}
            confirmLabel="Save"
            onOpen={() => setDraft({ ...EMPTY_DRAFT, action: rule.action, mode: rule.mode, score: String(rule.score) })}
            description="A shadow rule is evaluated and recorded on payments, and changes nothing."
            fields={<RuleSettings draft={draft} onChange={setDraft} error={scoreError} />}
            validate={() => scoreError?.error ?? (unchanged ? 'Nothing changed' : null)}
            run={async (reason, idempotencyKey) => {
              const r = await update({ id: rule.id, tenant, changes, reason, idempotencyKey }).unwrap();
              return `Rule ${r.id}: ${r.action}, ${r.mode}, score ${r.score}.`;
            }}
          />
          <ActionButton
            need={RISK_WRITE_ROLE}
            label="Delete"
            danger
            testId="delete-rule-button"
            title={`Delete ${rule.name ?? rule.id}`}
            confirmLabel="Delete rule"
            description="Payments it matched keep naming it; new payments are no longer checked against it."
            run={async (reason, idempotencyKey) => {
              await remove({ id: rule.id, tenant, reason, idempotencyKey }).unwrap();
              return `Rule ${rule.id} deleted.`;
            }}
          />
        </Stack>
      </TableCell>
    </TableRow>
  );
}

function Rules({ tenant }: { tenant: string }) {
  const cursor = useCursorStack();
  const q = useListRiskRulesQuery({ tenant, starting_after: cursor.after || undefined });
  const [create] = useCreateRiskRuleMutation();
  const [draft, setDraft] = useState<RuleDraft>(EMPTY_DRAFT);
  const parsed = draftToRule(draft);
  const error = parsed.ok ? null : { field: parsed.field, error: parsed.error };
  const next = nextCursor(q.data);
  return (
    <Paper sx={{ p: 2, mb: 2 }}>
      <Stack direction="row" spacing={1} sx={{ mb: 1, alignItems: 'center' }}>
        <Typography variant="subtitle1" component="h2" sx={{ flexGrow: 1 }}>
          Rules
        </Typography>
        <ActionButton
          need={RISK_WRITE_ROLE}
          label="New rule"
          testId="new-rule-button"
          title="New risk rule"
          confirmLabel="Create rule"
          onOpen={() => setDraft(EMPTY_DRAFT)}
          description="Rules decide each payment in the commit that checks the payer's funds: any allow wins, else any block blocks, else any review sends it to review."
          fields={<RuleForm draft={draft} onChange={setDraft} error={error} />}
          validate={() => (error ? `${error.field}: ${error.error}` : null)}
          run={async (reason, idempotencyKey) => {
            if (!parsed.ok) return;
            const r = await create({ tenant, rule: parsed.rule, reason, idempotencyKey }).unwrap();
            return `Rule ${r.id} created (${r.kind}, ${r.action}, ${r.mode}).`;
          }}
        />
      </Stack>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>This tenant has no rules: its payments are not checked.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer>
          <Table size="small" data-testid="rules-table">
            <TableHead>
              <TableRow>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Name</TableCell>
                <TableCell>Matches</TableCell>
                <TableCell>Action, mode</TableCell>
                <TableCell align="right" sx={{ display: { xs: 'none', sm: 'table-cell' } }}>
                  Score
                </TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Updated</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((r) => (
                <RuleRow key={r.id} rule={r} tenant={tenant} />
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {q.data && (cursor.hasPrev || next) && <Pager hasPrev={cursor.hasPrev} hasNext={!!next} onPrev={cursor.prev} onNext={() => next && cursor.next(next)} />}
    </Paper>
  );
}

function Lists({ tenant }: { tenant: string }) {
  const [list, setList] = useState(DEFAULT_LIST);
  const [shown, setShown] = useState(DEFAULT_LIST);
  const cursor = useCursorStack();
  const q = useListRiskListEntriesQuery({ tenant, list: shown, starting_after: cursor.after || undefined });
  const [add] = useAddRiskListEntryMutation();
  const [remove] = useDeleteRiskListEntryMutation();
  const [value, setValue] = useState('');
  const listError = LIST_NAME_RE.test(list) ? null : '1 to 64 of a-z, 0-9 and _';
  const valueError = value.trim() ? null : 'An account id (acct_...)';
  const next = nextCursor(q.data);
  return (
    <Paper sx={{ p: 2 }}>
      <Stack direction="row" spacing={1} useFlexGap sx={{ mb: 1, alignItems: 'flex-start', flexWrap: 'wrap' }}>
        <Typography variant="subtitle1" component="h2" sx={{ flexGrow: 1, pt: 1 }}>
          Lists
        </Typography>
        <TextField
          size="small"
          label="List"
          value={list}
          onChange={(e) => setList(e.target.value)}
          onBlur={() => {
            if (!listError && list !== shown) {
              cursor.reset();
              setShown(list);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !listError) {
              cursor.reset();
              setShown(list);
            }
          }}
          error={!!listError}
          helperText={listError ?? ' '}
          slotProps={{ htmlInput: { 'data-testid': 'list-name' } }}
        />
        <ActionButton
          need={RISK_WRITE_ROLE}
          label="Add entry"
          testId="add-entry-button"
          title={`Add to ${shown}`}
          confirmLabel="Add"
          onOpen={() => setValue('')}
          description={`Rules of kind "listed" look the payer or payee up in ${shown}. The reason is kept with the entry.`}
          fields={
            <TextField
              label="Account id"
              value={value}
              onChange={(e) => setValue(e.target.value.trim())}
              helperText="acct_..."
              slotProps={{ htmlInput: { 'data-testid': 'entry-value' } }}
            />
          }
          validate={() => valueError}
          run={async (reason, idempotencyKey) => {
            const e = await add({ tenant, list: shown, value, reason, idempotencyKey }).unwrap();
            return `${e.value} added to ${e.list} (${e.id}).`;
          }}
        />
      </Stack>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>Nothing on {shown}.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer>
          <Table size="small" data-testid="entries-table">
            <TableHead>
              <TableRow>
                <TableCell>Value</TableCell>
                <TableCell>Reason</TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Added</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((e) => (
                <TableRow key={e.id} data-testid="entry-row" data-id={e.id}>
                  <TableCell sx={{ wordBreak: 'break-all' }}>{e.value}</TableCell>
                  <TableCell sx={{ wordBreak: 'break-word' }}>{e.reason ?? '—'}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, whiteSpace: 'nowrap' }}>{formatTime(e.created_at)}</TableCell>
                  <TableCell align="right">
                    <ActionButton
                      need={RISK_WRITE_ROLE}
                      label="Remove"
                      danger
                      testId="remove-entry-button"
                      title={`Remove ${e.value} from ${e.list}`}
                      confirmLabel="Remove"
                      run={async (reason, idempotencyKey) => {
                        await remove({ id: e.id, tenant, reason, idempotencyKey }).unwrap();
                        return `${e.value} removed from ${e.list}.`;
                      }}
                    />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {q.data && (cursor.hasPrev || next) && <Pager hasPrev={cursor.hasPrev} hasNext={!!next} onPrev={cursor.prev} onNext={() => next && cursor.next(next)} />}
    </Paper>
  );
}

export default function RiskRulesPage() {
  const [params, setParams] = useSearchParams();
  const tenant = params.get('tenant') ?? '';
  return (
    <>
      <PageTitle
        actions={
          <TenantPicker value={tenant} onChange={(t) => setParams(t ? { tenant: t } : {})} testId="risk-tenant" minWidth={240} />
        }
      >
        Risk rules
      </PageTitle>
      {!tenant ? (
        <Empty>Pick a tenant to see its rules and lists.</Empty>
      ) : (
        <Box key={tenant}>
          <Rules tenant={tenant} />
          <Lists tenant={tenant} />
        </Box>
      )}
    </>
  );
}
