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
} from './types';

type Params = Record<string, string | undefined>;
/** Every action carries its reason and the Idempotency-Key of its confirmation. */
interface Action {
  reason: string;
  idempotencyKey: string;
}

const enc = encodeURIComponent;

export const api = createApi({
  reducerPath: 'api',
  baseQuery,
  tagTypes: ['Session', 'Payment', 'Account', 'DeadLetter', 'Tenant', 'Key', 'Staff', 'Audit', 'Overview', 'Reconciliation'],
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
  useListAccountsQuery,
  useGetAccountQuery,
  useGetJournalQuery,
  useAccountActionMutation,
  useAdjustAccountMutation,
  useListDeadLettersQuery,
  useReplayDeadLetterMutation,
  useListTenantsQuery,
  useCreateTenantMutation,
  useSetLimitsMutation,
  useListKeysQuery,
  useRevokeKeyMutation,
  useListStaffQuery,
  useStaffActionMutation,
  useListAuditQuery,
} = api;
