/** Bytes stored, and for administrators the garbage collector's state with a "run now" button. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, json, type Session } from './api';
import { ErrorLine, Loading } from './components';
import { bytes, date } from './format';

interface Stats {
  blobs: number;
  bytes: number;
  repositories: number;
  computedAt: string;
}

interface GcState {
  running: boolean;
  runs: number;
  last?: {
    startedAt?: string;
    finishedAt?: string;
    blobsDeleted?: number;
    bytesFreed?: number;
    manifestsDeleted?: number;
  };
  lastError?: string;
}

export function Storage({ session }: { session: Session }) {
  const [stats, setStats] = useState<Stats>();
  const [gc, setGc] = useState<GcState | null>();
  const [error, setError] = useState<unknown>();
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    json<Stats>('/_berth/api/storage', session).then(setStats, setError);
    // Only administrators may see the collector; anyone else simply does not get the section.
    json<GcState>('/_berth/admin/gc', session).then(setGc, (failure: unknown) =>
      setGc(failure instanceof ApiError ? null : undefined),
    );
  }, [generation]);
  const runNow = async () => {
    try {
      await call('/_berth/admin/gc?wait=false', { method: 'POST' }, session);
      setGeneration((value) => value + 1);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section aria-labelledby="storage-title">
      <h1 id="storage-title">Storage</h1>
      <ErrorLine error={error} />
      {!stats && !error && <Loading />}
      {stats && (
        <dl class="pairs">
          <dt>Stored (deduplicated)</dt>
          <dd data-bytes={stats.bytes}>{bytes(stats.bytes)}</dd>
          <dt>Blobs</dt>
          <dd>{stats.blobs}</dd>
          <dt>Repositories</dt>
          <dd>{stats.repositories}</dd>
          <dt>Counted at</dt>
          <dd>{date(stats.computedAt)}</dd>
        </dl>
      )}
      {gc && (
        <section aria-labelledby="gc-title">
          <h2 id="gc-title">Garbage collection</h2>
          <dl class="pairs">
            <dt>State</dt>
            <dd>{gc.running ? 'running' : 'idle'}</dd>
            <dt>Runs since start</dt>
            <dd>{gc.runs}</dd>
            {gc.last && [
              <dt key="l">Last run</dt>,
              <dd key="lv">
                {date(gc.last.finishedAt ?? gc.last.startedAt)}: {gc.last.blobsDeleted ?? 0} blobs,{' '}
                {bytes(gc.last.bytesFreed)} freed
              </dd>,
            ]}
            {gc.lastError && [<dt key="e">Last error</dt>, <dd key="ev">{gc.lastError}</dd>]}
          </dl>
          {!session.readOnly && (
            <button type="button" onClick={() => void runNow()} disabled={gc.running}>
              Run now
            </button>
          )}
          <button type="button" onClick={() => setGeneration((value) => value + 1)}>
            Refresh
          </button>
        </section>
      )}
    </section>
  );
}
