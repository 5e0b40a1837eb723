/** One repository's tags: sortable, filterable, with size, platforms and dates; delete a tag. */
import { useState } from 'preact/hooks';
import { call, type Session } from './api';
import { Confirm, ErrorLine, Loading, Pager, useDebouncedJson } from './components';
import { bytes, date, namePath, platform, shortDigest, type Platform } from './format';

const PAGE = 50;

export interface TagRow {
  tag: string;
  digest?: string;
  mediaType?: string;
  kind?: 'image' | 'index';
  artifactType?: string;
  size?: number;
  platforms?: Platform[];
  created?: string;
  pushed?: string;
}

export interface TagPage {
  name: string;
  actions: string[];
  total: number;
  offset: number;
  tags: TagRow[];
}

export function tagsUrl(name: string, params: Record<string, string>): string {
  return `/_berth/api/repositories/${namePath(name)}/tags?${new URLSearchParams(params)}`;
}

export function Repository({ session, name }: { session: Session; name: string }) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState('natural');
  const [offset, setOffset] = useState(0);
  const [deleting, setDeleting] = useState<TagRow>();
  const [status, setStatus] = useState('');
  const [generation, setGeneration] = useState(0);
  const [deleteError, setDeleteError] = useState<unknown>();
  const loaded = useDebouncedJson<TagPage>(
    tagsUrl(name, { q: filter, sort, offset: String(offset), n: String(PAGE) }),
    session,
    generation,
  );
  const page = loaded.data;
  const error = deleteError ?? loaded.error;

  const canDelete = page?.actions.includes('delete') ?? false;
  const siblings = (row: TagRow) =>
    (page?.tags ?? [])
      .filter((other) => other.digest === row.digest && other.tag !== row.tag)
      .map((other) => other.tag);

  const deleteTag = async (row: TagRow) => {
    setDeleting(undefined);
    try {
      await call(`/v2/${namePath(name)}/manifests/${encodeURIComponent(row.tag)}`, { method: 'DELETE' }, session);
      setStatus(`Deleted tag ${row.tag}.`);
      setGeneration((value) => value + 1);
    } catch (failure) {
      setDeleteError(failure);
    }
  };

  return (
    <section aria-labelledby="repository-title">
      <p class="crumbs">
        <a href="#/">Repositories</a> /{' '}
      </p>
      <h1 id="repository-title">{name}</h1>
      <div class="toolbar">
        <label for="tag-filter">Filter tags</label>
        <input
          id="tag-filter"
          type="search"
          value={filter}
          onInput={(event) => {
            setFilter((event.target as HTMLInputElement).value);
            setOffset(0);
          }}
        />
        <label for="tag-sort">Sort by</label>
        <select
          id="tag-sort"
          value={sort}
          onChange={(event) => {
            setSort((event.target as HTMLSelectElement).value);
            setOffset(0);
          }}
        >
          <option value="natural">version (natural order)</option>
          <option value="pushed">push date, newest first</option>
          <option value="name">name (byte order)</option>
        </select>
      </div>
      <p class="status" role="status">
        {status}
      </p>
      <ErrorLine error={error} />
      {!page && !error && <Loading />}
      {page && (
        <div class="table-wrap">
          <table class="tags">
            <caption class="visually-hidden">Tags of {name}</caption>
            <thead>
              <tr>
                <th scope="col">Tag</th>
                <th scope="col">Digest</th>
                <th scope="col">Size</th>
                <th scope="col">Platforms</th>
                <th scope="col">Created</th>
                <th scope="col">Pushed</th>
                {canDelete && (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {page.tags.map((row) => (
                <tr key={row.tag} data-tag={row.tag}>
                  <td>
                    <a href={`#/r/${namePath(name)}/m/${encodeURIComponent(row.tag)}`}>{row.tag}</a>
                  </td>
                  <td>
                    <code title={row.digest}>{shortDigest(row.digest)}</code>
                  </td>
                  <td class="number">{bytes(row.size)}</td>
                  <td>
                    {(row.platforms ?? []).map(platform).join(', ') || (row.artifactType ? row.artifactType : '—')}
                  </td>
                  <td>{date(row.created)}</td>
                  <td>{date(row.pushed)}</td>
                  {canDelete && (
                    <td>
                      <button
                        type="button"
                        class="danger"
                        onClick={() => setDeleting(row)}
                        aria-label={`Delete tag ${row.tag}`}
                      >
                        Delete tag
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && page.total === 0 && <p class="muted">No tag matches.</p>}
      {page && <Pager offset={page.offset} size={PAGE} total={page.total} onMove={setOffset} />}
      {deleting && (
        <Confirm
          title={`Delete tag ${deleting.tag}?`}
          action="Delete tag"
          onCancel={() => setDeleting(undefined)}
          onConfirm={() => void deleteTag(deleting)}
        >
          <p>Only the tag goes: the image stays while another tag or a digest names it.</p>
          {siblings(deleting).length > 0 && <p>Tags naming the same image stay: {siblings(deleting).join(', ')}.</p>}
        </Confirm>
      )}
    </section>
  );
}
