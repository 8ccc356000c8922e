// A few inline SVG icons (no @mui/icons-material: it is large and slow to build).
import SvgIcon, { type SvgIconProps } from '@mui/material/SvgIcon';

export const MenuIcon = (p: SvgIconProps) => (
  <SvgIcon {...p}>
    <path d="M3 18h18v-2H3zm0-5h18v-2H3zm0-7v2h18V6z" />
  </SvgIcon>
);
export const CopyIcon = (p: SvgIconProps) => (
  <SvgIcon {...p}>
    <path d="M16 1H4c-1.1 0-2 .9-2 2v14h2V3h12zm3 4H8c-1.1 0-2 .9-2 2v14c0 1.1.9 2 2 2h11c1.1 0 2-.9 2-2V7c0-1.1-.9-2-2-2m0 16H8V7h11z" />
  </SvgIcon>
);
export const DotIcon = (p: SvgIconProps) => (
  <SvgIcon {...p}>
    <circle cx="12" cy="12" r="6" />
  </SvgIcon>
);
