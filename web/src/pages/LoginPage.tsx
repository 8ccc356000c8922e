import { useState } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { api, useLoginMutation } from '../store/api';
import { sessionStarted } from '../store/sessionSlice';
import { useAppDispatch, useAppSelector } from '../store/store';
import type { ApiError } from '../store/types';

function loginError(err: unknown): string {
  const e = err as ApiError;
  if (e?.status === 429) {
    const secs = Number(e.retryAfter);
    const when = Number.isFinite(secs) && secs > 0 ? ` Try again in ${Math.ceil(secs / 60)} minute${secs > 60 ? 's' : ''}.` : '';
    return `Too many failed attempts: this login is locked. ${e.error?.message ?? ''}${when}`.trim();
  }
  return e?.error?.message ?? 'The login failed.';
}

/** A `next` that stays inside the console (no open redirect). */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export default function LoginPage() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [login, { isLoading }] = useLoginMutation();
  const dispatch = useAppDispatch();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const status = useAppSelector((s) => s.session.status);
  const next = safeNext(params.get('next'));

  if (status === 'authenticated') return <Navigate to={next} replace />;

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const s = await login({ email: email.trim(), password }).unwrap();
      dispatch(api.util.resetApiState());
      dispatch(sessionStarted(s));
      navigate(next, { replace: true });
    } catch (err) {
      setError(loginError(err));
    }
  };

  return (
    <Box sx={{ minHeight: '100vh', display: 'grid', placeItems: 'center', p: 2, bgcolor: 'grey.100' }}>
      <Paper component="main" sx={{ p: 4, width: '100%', maxWidth: 400 }}>
        <Typography variant="h5" component="h1" gutterBottom>
          FinSys admin
        </Typography>
        <form onSubmit={(e) => void submit(e)} data-testid="login-form">
          <Stack spacing={2}>
            <TextField
              label="Email"
              type="email"
              autoComplete="username"
              required
              autoFocus
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              slotProps={{ htmlInput: { 'data-testid': 'login-email' } }}
            />
            <TextField
              label="Password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              slotProps={{ htmlInput: { 'data-testid': 'login-password' } }}
            />
            {error && (
              <Alert severity="error" data-testid="login-error">
                {error}
              </Alert>
            )}
            <Button type="submit" variant="contained" disabled={isLoading || !email || !password} data-testid="login-submit">
              {isLoading ? 'Logging in…' : 'Log in'}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Box>
  );
}
