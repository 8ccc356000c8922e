import { useEffect, useRef } from 'react';
import { API_BASE } from '../store/baseQuery';
import { connectionChanged, paymentEvent, statusEvent } from '../store/overviewSlice';
import { useAppDispatch } from '../store/store';

/**
 * The live stream: EventSource on /admin/api/stream (same origin, the
 * cookie rides along). The browser reconnects by itself after a dropped
 * connection; when it gives up (the answer was not a stream, e.g. 401 or
 * 503) this reconnects with a backoff up to 30 s. After every reconnection
 * `onReconnect` runs (the page takes a fresh snapshot).
 */
export function useStream(onReconnect: () => void) {
  const dispatch = useAppDispatch();
  const reconnectRef = useRef(onReconnect);
  reconnectRef.current = onReconnect;

  useEffect(() => {
    if (typeof EventSource === 'undefined') {
      dispatch(connectionChanged('closed'));
      return;
    }
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delay = 1000;
    let everOpened = false;
    let stopped = false;

    const parse = (e: MessageEvent) => {
      try {
        return JSON.parse(e.data as string);
      } catch {
        return null;
      }
    };

    const connect = () => {
      dispatch(connectionChanged(everOpened ? 'reconnecting' : 'connecting'));
      es = new EventSource(`${API_BASE}/stream`);
      es.onopen = () => {
        delay = 1000;
        if (everOpened) reconnectRef.current();
        everOpened = true;
        dispatch(connectionChanged('open'));
      };
      es.onerror = () => {
        if (stopped || !es) return;
        if (es.readyState === EventSource.CLOSED) {
          es.close();
          dispatch(connectionChanged('reconnecting'));
          timer = setTimeout(connect, delay);
          delay = Math.min(delay * 2, 30000);
        } else {
          dispatch(connectionChanged('reconnecting'));
        }
      };
      es.addEventListener('payment', (e) => {
        const d = parse(e as MessageEvent);
        if (d) dispatch(paymentEvent(d));
      });
      es.addEventListener('status', (e) => {
        const d = parse(e as MessageEvent);
        if (d) dispatch(statusEvent(d));
      });
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      es?.close();
      dispatch(connectionChanged('closed'));
    };
  }, [dispatch]);
}
