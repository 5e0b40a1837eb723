/** The repository list: server-side search and pages, only what the caller may pull. */
import { useState } from 'preact/hooks';
import type { Session } from './api';
import { ErrorLine, Loading, Pager, useDebouncedJson } from './components';
import { namePath } from './format';

const PAGE = 50;

interface Page {
  repositories: string[];
  total: number;
  offset: number;
}

export function Repositories({ session }: { session: Session }) {
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  const params = new URLSearchParams({ q: query, offset: String(offset), n: String(PAGE) });
  const { data: page, error } = useDebouncedJson<Page>(`/_berth/api/repositories?${params}`, session);
  return (
    <section aria-labelledby="repositories-title">
      <h1 id="repositories-title">Repositories</h1>
      <div class="toolbar">
        <label for="repository-search">Search</label>
        <input
          id="repository-search"
          type="search"
          value={query}
          placeholder="name or part of a name"
          onInput={(event) => {
            setQuery((event.target as HTMLInputElement).value);
            setOffset(0);
          }}
        />
        {page && (
          <span class="muted" aria-live="polite">
            {page.total} {page.total === 1 ? 'repository' : 'repositories'}
          </span>
        )}
      </div>
      <ErrorLine error={error} />
      {!page && !error && <Loading />}
      {page && (
        <ul class="repositories">
          {page.repositories.map((name) => (
            <li key={name}>
              <a href={`#/r/${namePath(name)}`}>{name}</a>
            </li>
          ))}
        </ul>
      )}
      {page && page.total === 0 && <p class="muted">No repository matches.</p>}
      {page && <Pager offset={page.offset} size={PAGE} total={page.total} onMove={setOffset} />}
    </section>
  );
}
