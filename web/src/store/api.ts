import { createApi } from '@reduxjs/toolkit/query/react';
import { baseQuery } from './baseQuery';
import type {
  Account,
  ApiKey,
  AuditEntry,
  DeadLetter,
  JournalEntry,
  List,
  Overview,
  Payment,
  PaymentDetail,
  Refund,
  Session,
  Staff,
  Tenant,
  Reconciliation,
  DailyReport,
  RiskRule,
  RiskListEntry,
} from './types';

type Params = Record<string, string | undefined>;
/** What a rule is made of (POST /admin/api/tenants/{id}/risk_rules, less the reason). */
export interface RiskRuleInput {
  name: string | null;
  kind: string;
  params: Record<string, unknown>;
  action: 'allow' | 'review' | 'block';
  mode: 'active' | 'shadow';
  score: number;
}
/** Every action carries its reason and the Idempotency-Key of its confirmation. */
interface Action {
  reason: string;
  idempotencyKey: string;
}

const enc = encodeURIComponent;

export const api = createApi({
  reducerPath: 'api',
  baseQuery,
  tagTypes: [
    'Session',
    'Payment',
    'Account',
    'DeadLetter',
    'Tenant',
    'Key',
    'Staff',
    'Audit',
    'Overview',
    'Reconciliation',
    'Report',
    'RiskRule',
    'RiskList',
  ],
  endpoints: (b) => ({
    getSession: b.query<Session, void>({ query: () => '/session', providesTags: ['Session'] }),
    login: b.mutation<Session, { email: string; password: string }>({
      query: (body) => ({ url: '/session', method: 'POST', body }),
    }),
    logout: b.mutation<null, void>({ query: () => ({ url: '/session', method: 'DELETE' }) }),

    getOverview: b.query<Overview, void>({ query: () => '/overview', providesTags: ['Overview'] }),
    getReconciliation: b.query<Reconciliation, string>({
      query: (date) => `/reconciliations/${encodeURIComponent(date)}`,
      providesTags: ['Reconciliation'],
    }),

    listPayments: b.query<List<Payment>, Params>({
      query: (params) => ({ url: '/payments', params }),
      providesTags: ['Payment'],
    }),
    getPayment: b.query<PaymentDetail, string>({
      query: (id) => `/payments/${enc(id)}`,
      providesTags: (_r, _e, id) => [{ type: 'Payment', id }],
    }),
    refundPayment: b.mutation<Refund, Action & { id: string; amount?: number }>({
      query: ({ id, amount, reason, idempotencyKey }) => ({
        url: `/payments/${enc(id)}/refunds`,
        method: 'POST',
        body: amount === undefined ? { reason } : { amount, reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'Payment', id: a.id }, 'Payment', 'Audit', 'Overview'],
    }),
    cancelPayment: b.mutation<Payment, Action & { id: string }>({
      query: ({ id, reason, idempotencyKey }) => ({
        url: `/payments/${enc(id)}/cancel`,
        method: 'POST',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'Payment', id: a.id }, 'Payment', 'Audit'],
    }),

    /** The review queue's decision (docs/risk.md): approve sends the payment to settlement, reject cancels it. */
    reviewPayment: b.mutation<Payment, Action & { id: string; decision: 'approve' | 'reject' }>({
      query: ({ id, decision, reason, idempotencyKey }) => ({
        url: `/payments/${enc(id)}/review`,
        method: 'POST',
        body: { decision, reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'Payment', id: a.id }, 'Payment', 'Audit', 'Overview'],
    }),

    /** Daily rollups of every tenant (or one), summed: from, to (YYYY-MM-DD), currency, tenant. */
    getDailyReport: b.query<DailyReport, Params>({
      query: (params) => ({ url: '/reports/daily', params }),
      providesTags: ['Report'],
    }),

    // A tenant's risk rules and list entries (docs/risk.md): read by every
    // role, written by finance and admin, each write with its reason and
    // Idempotency-Key as every console action.
    listRiskRules: b.query<List<RiskRule>, { tenant: string } & Params>({
      query: ({ tenant, ...params }) => ({ url: `/tenants/${enc(tenant)}/risk_rules`, params }),
      providesTags: (_r, _e, a) => [{ type: 'RiskRule', id: a.tenant }],
    }),
    createRiskRule: b.mutation<RiskRule, Action & { tenant: string; rule: RiskRuleInput }>({
      query: ({ tenant, rule, reason, idempotencyKey }) => ({
        url: `/tenants/${enc(tenant)}/risk_rules`,
        method: 'POST',
        body: { ...rule, reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'RiskRule', id: a.tenant }, 'Audit'],
    }),
    updateRiskRule: b.mutation<RiskRule, Action & { id: string; tenant: string; changes: Partial<RiskRuleInput> }>({
      query: ({ id, changes, reason, idempotencyKey }) => ({
        url: `/risk_rules/${enc(id)}`,
        method: 'PATCH',
        body: { ...changes, reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'RiskRule', id: a.tenant }, 'Audit'],
    }),
    deleteRiskRule: b.mutation<unknown, Action & { id: string; tenant: string }>({
      query: ({ id, reason, idempotencyKey }) => ({
        url: `/risk_rules/${enc(id)}`,
        method: 'DELETE',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'RiskRule', id: a.tenant }, 'Audit'],
    }),
    listRiskListEntries: b.query<List<RiskListEntry>, { tenant: string } & Params>({
      query: ({ tenant, ...params }) => ({ url: `/tenants/${enc(tenant)}/risk_lists`, params }),
      providesTags: (_r, _e, a) => [{ type: 'RiskList', id: a.tenant }],
    }),
    addRiskListEntry: b.mutation<RiskListEntry, Action & { tenant: string; list: string; value: string }>({
      query: ({ tenant, list, value, reason, idempotencyKey }) => ({
        url: `/tenants/${enc(tenant)}/risk_lists`,
        method: 'POST',
        body: { list, value, reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'RiskList', id: a.tenant }, 'Audit'],
    }),
    deleteRiskListEntry: b.mutation<unknown, Action & { id: string; tenant: string }>({
      query: ({ id, reason, idempotencyKey }) => ({
        url: `/risk_lists/${enc(id)}`,
        method: 'DELETE',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'RiskList', id: a.tenant }, 'Audit'],
    }),

    listAccounts: b.query<List<Account>, Params>({
      query: (params) => ({ url: '/accounts', params }),
      providesTags: ['Account'],
    }),
    getAccount: b.query<Account, string>({
      query: (id) => `/accounts/${enc(id)}`,
      providesTags: (_r, _e, id) => [{ type: 'Account', id }],
    }),
    getJournal: b.query<List<JournalEntry>, { id: string } & Params>({
      query: ({ id, ...params }) => ({ url: `/accounts/${enc(id)}/journal`, params }),
      providesTags: (_r, _e, a) => [{ type: 'Account', id: a.id }],
    }),
    accountAction: b.mutation<Account, Action & { id: string; action: 'freeze' | 'unfreeze' | 'close' }>({
      query: ({ id, action, reason, idempotencyKey }) => ({
        url: `/accounts/${enc(id)}/${action}`,
        method: 'POST',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'Account', id: a.id }, 'Account', 'Audit'],
    }),
    adjustAccount: b.mutation<unknown, Action & { id: string; amount: number }>({
      query: ({ id, amount, reason, idempotencyKey }) => ({
        url: `/accounts/${enc(id)}/adjustments`,
        method: 'POST',
        body: { amount, reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'Account', id: a.id }, 'Account', 'Audit'],
    }),

    listDeadLetters: b.query<List<DeadLetter>, Params>({
      query: (params) => ({ url: '/dead-letters', params }),
      providesTags: ['DeadLetter'],
    }),
    replayDeadLetter: b.mutation<unknown, Action & { id: string }>({
      query: ({ id, reason, idempotencyKey }) => ({
        url: `/dead-letters/${enc(id)}/replay`,
        method: 'POST',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: ['DeadLetter', 'Audit', 'Overview', 'Payment'],
    }),

    listTenants: b.query<List<Tenant>, void>({ query: () => '/tenants', providesTags: ['Tenant'] }),
    /** Tenants for a picker: the first FS_ADMIN_LIST_LIMIT_MAX (100). */
    listTenantOptions: b.query<List<Tenant>, void>({ query: () => ({ url: '/tenants', params: { limit: '100' } }), providesTags: ['Tenant'] }),
    createTenant: b.mutation<Tenant, Action & { name: string }>({
      query: ({ name, reason, idempotencyKey }) => ({
        url: '/tenants',
        method: 'POST',
        body: { name, reason },
        idempotencyKey,
      }),
      invalidatesTags: ['Tenant', 'Audit'],
    }),
    setLimits: b.mutation<Tenant, Action & { id: string; per_s?: number; burst?: number; useDefault?: boolean }>({
      query: ({ id, per_s, burst, useDefault, reason, idempotencyKey }) => ({
        url: `/tenants/${enc(id)}/limits`,
        method: 'POST',
        body: useDefault ? { default: true, reason } : { per_s, burst, reason },
        idempotencyKey,
      }),
      invalidatesTags: ['Tenant', 'Audit'],
    }),
    listKeys: b.query<List<ApiKey>, string>({
      query: (tenant) => `/tenants/${enc(tenant)}/keys`,
      providesTags: (_r, _e, t) => [{ type: 'Key', id: t }],
    }),
    revokeKey: b.mutation<ApiKey, Action & { id: string; tenant: string }>({
      query: ({ id, reason, idempotencyKey }) => ({
        url: `/keys/${enc(id)}/revoke`,
        method: 'POST',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: (_r, _e, a) => [{ type: 'Key', id: a.tenant }, 'Tenant', 'Audit'],
    }),

    listStaff: b.query<List<Staff>, void>({ query: () => '/staff', providesTags: ['Staff'] }),
    staffAction: b.mutation<Staff, Action & { id: string; action: 'disable' | 'enable' }>({
      query: ({ id, action, reason, idempotencyKey }) => ({
        url: `/staff/${enc(id)}/${action}`,
        method: 'POST',
        body: { reason },
        idempotencyKey,
      }),
      invalidatesTags: ['Staff', 'Audit'],
    }),
    listAudit: b.query<List<AuditEntry>, Params>({
      query: (params) => ({ url: '/audit', params }),
      providesTags: ['Audit'],
    }),
  }),
});

export const {
  useGetSessionQuery,
  useLoginMutation,
  useLogoutMutation,
  useGetOverviewQuery,
  useGetReconciliationQuery,
  useListPaymentsQuery,
  useGetPaymentQuery,
  useRefundPaymentMutation,
  useCancelPaymentMutation,
  useReviewPaymentMutation,
  useGetDailyReportQuery,
  useListRiskRulesQuery,
  useCreateRiskRuleMutation,
  useUpdateRiskRuleMutation,
  useDeleteRiskRuleMutation,
  useListRiskListEntriesQuery,
  useAddRiskListEntryMutation,
  useDeleteRiskListEntryMutation,
  useListAccountsQuery,
  useGetAccountQuery,
  useGetJournalQuery,
  useAccountActionMutation,
  useAdjustAccountMutation,
  useListDeadLettersQuery,
  useReplayDeadLetterMutation,
  useListTenantsQuery,
  useListTenantOptionsQuery,
  useCreateTenantMutation,
  useSetLimitsMutation,
  useListKeysQuery,
  useRevokeKeyMutation,
  useListStaffQuery,
  useStaffActionMutation,
  useListAuditQuery,
} = api;
