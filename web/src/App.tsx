import { useEffect } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router';
import Button from '@mui/material/Button';
import Box from '@mui/material/Box';
import { useGetSessionQuery } from './store/api';
import { sessionStarted } from './store/sessionSlice';
import { useAppDispatch, useAppSelector } from './store/store';
import { ErrorState, Loading } from './components/common';
import { RoleGate, useCan } from './components/RoleGate';
import type { Role } from './lib/roles';
import Layout from './components/Layout';
import LoginPage from './pages/LoginPage';
import OverviewPage from './pages/OverviewPage';
import PaymentsPage from './pages/PaymentsPage';
import PaymentDetailPage from './pages/PaymentDetailPage';
import AccountsPage from './pages/AccountsPage';
import AccountDetailPage from './pages/AccountDetailPage';
import DeadLettersPage from './pages/DeadLettersPage';
import TenantsPage from './pages/TenantsPage';
import StaffPage from './pages/StaffPage';
import ReconciliationPage from './pages/ReconciliationPage';
import AuditPage from './pages/AuditPage';
import ReviewPage from './pages/ReviewPage';
import ReportsPage from './pages/ReportsPage';
import RiskRulesPage from './pages/RiskRulesPage';
import { Empty } from './components/common';

/** Learns who is logged in (and the CSRF token) from GET /admin/api/session. */
function useSessionBootstrap() {
  const dispatch = useAppDispatch();
  const status = useAppSelector((s) => s.session.status);
  const q = useGetSessionQuery(undefined, { skip: status !== 'unknown' });
  useEffect(() => {
    if (q.data) dispatch(sessionStarted(q.data));
  }, [q.data, dispatch]);
  return { status, q };
}

function RequireAuth() {
  const { status, q } = useSessionBootstrap();
  const location = useLocation();
  if (status === 'anonymous') {
    const next = location.pathname + location.search;
    return <Navigate to={next && next !== '/' ? `/login?next=${encodeURIComponent(next)}` : '/login'} replace />;
  }
  if (status === 'unknown') {
    if (q.isError)
      return (
        <Box sx={{ p: 3 }}>
          <ErrorState error={q.error} onRetry={() => void q.refetch()} />
        </Box>
      );
    return <Loading label="Checking the session…" />;
  }
  return <Layout />;
}

export default function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<RequireAuth />}>
        <Route index element={<OverviewPage />} />
        <Route path="payments" element={<PaymentsPage />} />
        <Route path="payments/:id" element={<PaymentDetailPage />} />
        <Route path="accounts" element={<AccountsPage />} />
        <Route path="accounts/:id" element={<AccountDetailPage />} />
        <Route path="dead-letters" element={<DeadLettersPage />} />
        <Route path="tenants" element={<TenantsPage />} />
        <Route
          path="staff"
          element={
            <>
              <RoleGate need="admin">
                <StaffPage />
              </RoleGate>
              <RoleGate need="viewer">
                <StaffDenied />
              </RoleGate>
            </>
          }
        />
        <Route path="audit" element={<AuditPage />} />
        <Route
          path="reconciliation"
          element={
            <>
              <RoleGate need="finance">
                <ReconciliationPage />
              </RoleGate>
              <FinanceDenied />
            </>
          }
        />
        <Route
          path="review"
          element={
            <>
              <RoleGate need="support">
                <ReviewPage />
              </RoleGate>
              <Denied need="support">Only support, finance and admin staff review payments.</Denied>
            </>
          }
        />
        <Route
          path="reports"
          element={
            <>
              <RoleGate need="finance">
                <ReportsPage />
              </RoleGate>
              <Denied need="finance">Only finance and admin staff see reports.</Denied>
            </>
          }
        />
        <Route path="risk" element={<RiskRulesPage />} />
        <Route path="*" element={<Empty>No such page. <Button href="/admin/">Overview</Button></Empty>} />
      </Route>
    </Routes>
  );
}

/** What a role below `need` sees instead of the page (the server refuses it too). */
function Denied({ need, children }: { need: Role; children: React.ReactNode }) {
  return useCan(need) ? null : <Empty>{children}</Empty>;
}

function FinanceDenied() {
  const role = useAppSelector((s) => s.session.staff?.role);
  return role === 'finance' || role === 'admin' ? null : <Empty>Only finance and admin staff see reconciliations.</Empty>;
}

function StaffDenied() {
  const role = useAppSelector((s) => s.session.staff?.role);
  return role === 'admin' ? null : <Empty>Only admins manage staff.</Empty>;
}
