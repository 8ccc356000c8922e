import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import { CopyButton } from './common';

/** Shows a secret once (component state only, never the store); gone when closed. */
export function SecretDialog({ title, secret, onClose }: { title: string; secret: string | null; onClose: () => void }) {
  return (
    <Dialog open={secret !== null} onClose={onClose} fullWidth maxWidth="sm" aria-labelledby="secret-title" data-testid="secret-dialog">
      <DialogTitle id="secret-title">{title}</DialogTitle>
      <DialogContent>
        <Alert severity="warning" sx={{ mb: 2 }}>
          Copy it now: it is shown only once and cannot be read again.
        </Alert>
        <Box sx={{ display: 'flex', alignItems: 'center', gap: 1, p: 1, bgcolor: 'grey.100', borderRadius: 1 }}>
          <Box component="code" sx={{ flexGrow: 1, wordBreak: 'break-all' }} data-testid="secret-value">
            {secret}
          </Box>
          {secret && <CopyButton text={secret} label="Copy the secret" testId="secret-copy" />}
        </Box>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} variant="contained" data-testid="secret-close">
          I have copied it
        </Button>
      </DialogActions>
    </Dialog>
  );
}
