import { useState } from 'react';
import { NavLink, Outlet, useNavigate } from 'react-router';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Drawer from '@mui/material/Drawer';
import IconButton from '@mui/material/IconButton';
import List from '@mui/material/List';
import ListItemButton from '@mui/material/ListItemButton';
import ListItemText from '@mui/material/ListItemText';
import Snackbar from '@mui/material/Snackbar';
import Alert from '@mui/material/Alert';
import Toolbar from '@mui/material/Toolbar';
import Typography from '@mui/material/Typography';
import useMediaQuery from '@mui/material/useMediaQuery';
import { useTheme } from '@mui/material/styles';
import { MenuIcon } from './icons';
import { api, useLogoutMutation } from '../store/api';
import { sessionEnded } from '../store/sessionSlice';
import { dismiss } from '../store/notifySlice';
import { useAppDispatch, useAppSelector } from '../store/store';
import { hasRole, type Role } from '../lib/roles';

const WIDTH = 220;

const NAV: { to: string; label: string; need: Role; end?: boolean }[] = [
  { to: '/', label: 'Overview', need: 'viewer', end: true },
  { to: '/payments', label: 'Payments', need: 'viewer' },
  { to: '/review', label: 'Review queue', need: 'support' },
  { to: '/accounts', label: 'Accounts', need: 'viewer' },
  { to: '/dead-letters', label: 'Dead letters', need: 'viewer' },
  { to: '/tenants', label: 'Tenants & keys', need: 'viewer' },
  { to: '/reconciliation', label: 'Reconciliation', need: 'finance' },
  { to: '/reports', label: 'Reports', need: 'finance' },
  { to: '/risk', label: 'Risk rules', need: 'viewer' },
  { to: '/staff', label: 'Staff', need: 'admin' },
  { to: '/audit', label: 'Audit log', need: 'viewer' },
];

export function Notifier() {
  const dispatch = useAppDispatch();
  const n = useAppSelector((s) => s.notify.current);
  return (
    <Snackbar
      key={n?.id}
      open={!!n}
      autoHideDuration={n?.severity === 'error' ? 8000 : 5000}
      onClose={(_e, why) => why !== 'clickaway' && dispatch(dismiss())}
      anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}
    >
      {n ? (
        <Alert severity={n.severity} variant="filled" onClose={() => dispatch(dismiss())} data-testid="notice">
          {n.message}
        </Alert>
      ) : undefined}
    </Snackbar>
  );
}

export default function Layout() {
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up('md'), { noSsr: true });
  const [open, setOpen] = useState(false);
  const staff = useAppSelector((s) => s.session.staff);
  const dispatch = useAppDispatch();
  const navigate = useNavigate();
  const [logout, { isLoading }] = useLogoutMutation();

  const doLogout = async () => {
    try {
      await logout().unwrap();
    } catch {
      // The session ends here whatever the server said.
    }
    dispatch(sessionEnded());
    dispatch(api.util.resetApiState());
    navigate('/login', { replace: true });
  };

  const nav = (
    <Box component="nav" aria-label="Main">
      <Toolbar />
      <List>
        {NAV.filter((n) => hasRole(staff?.role, n.need)).map((n) => (
          <ListItemButton
            key={n.to}
            component={NavLink}
            to={n.to}
            end={n.end}
            onClick={() => setOpen(false)}
            data-testid={`nav-${n.to === '/' ? 'overview' : n.to.slice(1)}`}
            sx={{ '&.active': { bgcolor: 'action.selected', fontWeight: 600 } }}
          >
            <ListItemText primary={n.label} />
          </ListItemButton>
        ))}
      </List>
    </Box>
  );

  return (
    <Box sx={{ display: 'flex', minHeight: '100vh' }}>
      <AppBar position="fixed" sx={{ zIndex: (t) => t.zIndex.drawer + 1 }}>
        <Toolbar sx={{ gap: 1 }}>
          {!wide && (
            <IconButton color="inherit" edge="start" aria-label="Open the menu" onClick={() => setOpen(true)} data-testid="menu-button">
              <MenuIcon />
            </IconButton>
          )}
          <Typography variant="h6" component="div" sx={{ flexGrow: 1 }} noWrap>
            FinSys admin
          </Typography>
          {staff && (
            <Typography variant="body2" sx={{ display: { xs: 'none', sm: 'block' } }} data-testid="current-staff">
              {staff.email} · {staff.role}
            </Typography>
          )}
          <Button color="inherit" onClick={() => void doLogout()} disabled={isLoading} data-testid="logout-button">
            Log out
          </Button>
        </Toolbar>
      </AppBar>
      <Drawer
        variant={wide ? 'permanent' : 'temporary'}
        open={wide || open}
        onClose={() => setOpen(false)}
        ModalProps={{ keepMounted: true }}
        sx={{ width: WIDTH, flexShrink: 0, '& .MuiDrawer-paper': { width: WIDTH, boxSizing: 'border-box' } }}
      >
        {nav}
      </Drawer>
      <Box component="main" sx={{ flexGrow: 1, minWidth: 0, p: { xs: 1.5, sm: 3 } }}>
        <Toolbar />
        <Outlet />
      </Box>
      <Notifier />
    </Box>
  );
}
