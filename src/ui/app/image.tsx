/**
 * One manifest: for an index, each platform with its own size and digest; for an image, its
 * config (entrypoint, cmd, env, labels, ports, created), history and layers; annotations; the
 * referrers attached to it; the raw manifest; commands to pull it; and deleting it.
 */
import { useEffect, useState } from 'preact/hooks';
import { call, json, MANIFEST_ACCEPT, type Session } from './api';
import { Confirm, CopyCommand, ErrorLine, Loading } from './components';
import { bytes, date, namePath, platform, shortDigest, type Platform } from './format';
import { tagsUrl, type TagPage } from './repository';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface ManifestJson {
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

interface Loaded {
  digest: string;
  mediaType: string;
  raw: string;
  manifest: ManifestJson;
}

interface ImageConfig {
  created?: string;
  architecture?: string;
  os?: string;
  config?: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, unknown>;
    WorkingDir?: string;
    User?: string;
  };
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string }>;
}

const IMAGE_CONFIG_TYPES = [
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
];

async function loadManifest(session: Session, name: string, reference: string): Promise<Loaded> {
  const response = await call(
    `/v2/${namePath(name)}/manifests/${encodeURIComponent(reference)}`,
    { headers: { Accept: MANIFEST_ACCEPT } },
    session,
  );
  const raw = await response.text();
  const manifest = JSON.parse(raw) as ManifestJson;
  return {
    digest: response.headers.get('Docker-Content-Digest') ?? reference,
    mediaType: manifest.mediaType ?? response.headers.get('Content-Type') ?? '',
    raw,
    manifest,
  };
}

/** What pulling an image transfers: its manifest, config and layers. */
function imageSize(loaded: Loaded): number {
  const { manifest } = loaded;
  return (
    new TextEncoder().encode(loaded.raw).length +
    (manifest.config?.size ?? 0) +
    (manifest.layers ?? []).reduce((total, layer) => total + layer.size, 0)
  );
}

function Annotations({ annotations }: { annotations?: Record<string, string> }) {
  const entries = Object.entries(annotations ?? {});
  if (entries.length === 0) return null;
  return (
    <dl class="pairs">
      {entries.map(([key, value]) => [<dt key={`k${key}`}>{key}</dt>, <dd key={`v${key}`}>{value}</dd>])}
    </dl>
  );
}

function Platforms({ session, name, loaded }: { session: Session; name: string; loaded: Loaded }) {
  const [sizes, setSizes] = useState<Record<string, number>>({});
  const children = loaded.manifest.manifests ?? [];
  useEffect(() => {
    let current = true;
    for (const child of children) {
      loadManifest(session, name, child.digest)
        .then(
          (loadedChild) => current && setSizes((previous) => ({ ...previous, [child.digest]: imageSize(loadedChild) })),
        )
        .catch(() => undefined);
    }
    return () => {
      current = false;
    };
  }, [loaded.digest]);
  return (
    <section aria-labelledby="platforms-title">
      <h2 id="platforms-title">Platforms</h2>
      <div class="table-wrap">
        <table class="platforms">
          <thead>
            <tr>
              <th scope="col">Platform</th>
              <th scope="col">Digest</th>
              <th scope="col">Image size</th>
              <th scope="col">Media type</th>
            </tr>
          </thead>
          <tbody>
            {children.map((child) => (
              <tr key={child.digest} data-digest={child.digest}>
                <td>{child.platform ? platform(child.platform) : (child.artifactType ?? '—')}</td>
                <td>
                  <a href={`#/r/${namePath(name)}/m/${encodeURIComponent(child.digest)}`}>
                    <code title={child.digest}>{shortDigest(child.digest)}</code>
                  </a>
                </td>
                <td class="number" data-size={sizes[child.digest]}>
                  {bytes(sizes[child.digest])}
                </td>
                <td>{child.mediaType}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function ConfigView({ session, name, descriptor }: { session: Session; name: string; descriptor: Descriptor }) {
  const [config, setConfig] = useState<ImageConfig>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (!IMAGE_CONFIG_TYPES.includes(descriptor.mediaType) || descriptor.size > 1024 * 1024) return;
    json<ImageConfig>(`/v2/${namePath(name)}/blobs/${descriptor.digest}`, session).then(setConfig, setError);
  }, [descriptor.digest]);
  if (error) return <ErrorLine error={error} />;
  if (!config) return null;
  const run = config.config ?? {};
  const rows: Array<[string, string]> = [
    ['Created', date(config.created)],
    ['Platform', config.os && config.architecture ? `${config.os}/${config.architecture}` : '—'],
    ['Entrypoint', run.Entrypoint ? JSON.stringify(run.Entrypoint) : '—'],
    ['Cmd', run.Cmd ? JSON.stringify(run.Cmd) : '—'],
    ['Working directory', run.WorkingDir || '—'],
    ['User', run.User || '—'],
    ['Exposed ports', Object.keys(run.ExposedPorts ?? {}).join(', ') || '—'],
  ];
  return (
    <section aria-labelledby="config-title">
      <h2 id="config-title">Configuration</h2>
      <dl class="pairs">
        {rows.map(([key, value]) => [<dt key={`k${key}`}>{key}</dt>, <dd key={`v${key}`}>{value}</dd>])}
      </dl>
      {(run.Env ?? []).length > 0 && (
        <>
          <h3>Environment</h3>
          <ul class="plain">
            {run.Env!.map((entry) => (
              <li key={entry}>
                <code>{entry}</code>
              </li>
            ))}
          </ul>
        </>
      )}
      {Object.keys(run.Labels ?? {}).length > 0 && (
        <>
          <h3>Labels</h3>
          <Annotations annotations={run.Labels} />
        </>
      )}
      {(config.history ?? []).length > 0 && (
        <>
          <h3>History</h3>
          <ol class="history">
            {config.history!.map((step, index) => (
              <li key={index}>
                <code>{step.created_by ?? step.comment ?? '(no command)'}</code>
                {step.empty_layer ? <span class="muted"> (no layer)</span> : null}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

function Layers({ layers }: { layers: Descriptor[] }) {
  return (
    <section aria-labelledby="layers-title">
      <h2 id="layers-title">Layers</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Digest</th>
              <th scope="col">Size</th>
              <th scope="col">Media type</th>
            </tr>
          </thead>
          <tbody>
            {layers.map((layer, index) => (
              <tr key={`${index}${layer.digest}`}>
                <td>{index + 1}</td>
                <td>
                  <code title={layer.digest}>{shortDigest(layer.digest)}</code>
                </td>
                <td class="number">{bytes(layer.size)}</td>
                <td>{layer.mediaType}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Referrers (signatures, SBOMs, attestations) of a digest, and theirs in turn, as a tree. */
function Referrers({
  session,
  name,
  digest,
  depth = 0,
}: {
  session: Session;
  name: string;
  digest: string;
  depth?: number;
}) {
  const [referrers, setReferrers] = useState<Descriptor[]>();
  useEffect(() => {
    json<{ manifests: Descriptor[] }>(`/v2/${namePath(name)}/referrers/${digest}`, session).then(
      (index) => setReferrers(index.manifests ?? []),
      () => setReferrers([]),
    );
  }, [digest]);
  if (!referrers || (referrers.length === 0 && depth > 0)) return null;
  const list = (
    <ul class="tree">
      {referrers.map((referrer) => (
        <li key={referrer.digest}>
          <span class="artifact-type">{referrer.artifactType ?? referrer.mediaType}</span>{' '}
          <a href={`#/r/${namePath(name)}/m/${encodeURIComponent(referrer.digest)}`}>
            <code title={referrer.digest}>{shortDigest(referrer.digest)}</code>
          </a>{' '}
          <span class="muted">{bytes(referrer.size)}</span>
          <Annotations annotations={referrer.annotations} />
          {depth < 3 && <Referrers session={session} name={name} digest={referrer.digest} depth={depth + 1} />}
        </li>
      ))}
    </ul>
  );
  if (depth > 0) return list;
  return (
    <section aria-labelledby="referrers-title">
      <h2 id="referrers-title">Referrers</h2>
      {referrers.length === 0 ? <p class="muted">Nothing refers to this manifest.</p> : list}
    </section>
  );
}

function Commands({ session, name, reference }: { session: Session; name: string; reference: string }) {
  const separator = reference.includes(':') ? '@' : ':';
  const image = `${session.registry}${session.prefix}/${name}${separator}${reference}`;
  const tlsFlag = session.secure ? '' : ' --tls-verify=false';
  const local = reference.includes(':') ? name.split('/').pop()! : `${name.split('/').pop()}:${reference}`;
  return (
    <section aria-labelledby="commands-title">
      <h2 id="commands-title">Pull it</h2>
      <CopyCommand label="docker" command={`docker pull ${image}`} />
      <CopyCommand label="podman" command={`podman pull${tlsFlag} ${image}`} />
      <CopyCommand
        label="skopeo"
        command={`skopeo copy${tlsFlag ? ' --src-tls-verify=false' : ''} docker://${image} oci:./${local}`}
      />
      <CopyCommand label="berth" command={`berth cp ${image} oci:./${local}`} />
    </section>
  );
}

export function Image({ session, name, reference }: { session: Session; name: string; reference: string }) {
  const [loaded, setLoaded] = useState<Loaded>();
  const [error, setError] = useState<unknown>();
  const [actions, setActions] = useState<string[]>([]);
  const [tagsOfDigest, setTagsOfDigest] = useState<string[]>([]);
  const [confirm, setConfirm] = useState<'tag' | 'manifest'>();
  const [done, setDone] = useState('');
  const isTag = !reference.includes(':');

  useEffect(() => {
    setLoaded(undefined);
    setError(undefined);
    loadManifest(session, name, reference).then(setLoaded, setError);
  }, [name, reference]);
  useEffect(() => {
    if (!loaded) return;
    json<TagPage>(tagsUrl(name, { n: '1000' }), session).then(
      (page) => {
        setActions(page.actions);
        setTagsOfDigest(page.tags.filter((row) => row.digest === loaded.digest).map((row) => row.tag));
      },
      () => setActions([]),
    );
  }, [loaded?.digest]);

  const remove = async (what: 'tag' | 'manifest') => {
    setConfirm(undefined);
    const target = what === 'tag' ? reference : loaded!.digest;
    try {
      await call(`/v2/${namePath(name)}/manifests/${encodeURIComponent(target)}`, { method: 'DELETE' }, session);
      setDone(
        what === 'tag'
          ? `Deleted tag ${reference}.`
          : `Deleted manifest ${shortDigest(loaded!.digest)}${tagsOfDigest.length ? ` and its tags ${tagsOfDigest.join(', ')}` : ''}.`,
      );
    } catch (failure) {
      setError(failure);
    }
  };

  if (done) {
    return (
      <section>
        <p class="status" role="status">
          {done}
        </p>
        <p>
          <a href={`#/r/${namePath(name)}`}>Back to {name}</a>
        </p>
      </section>
    );
  }
  const canDelete = actions.includes('delete');
  const manifest = loaded?.manifest;
  return (
    <section aria-labelledby="image-title">
      <p class="crumbs">
        <a href="#/">Repositories</a> / <a href={`#/r/${namePath(name)}`}>{name}</a> /
      </p>
      <h1 id="image-title">
        {name}
        {isTag ? `:${reference}` : `@${shortDigest(reference)}`}
      </h1>
      <ErrorLine error={error} />
      {!loaded && !error && <Loading />}
      {loaded && manifest && (
        <>
          <dl class="pairs summary">
            <dt>Digest</dt>
            <dd>
              <code>{loaded.digest}</code>
            </dd>
            <dt>Media type</dt>
            <dd>{loaded.mediaType}</dd>
            {manifest.artifactType && [<dt key="at">Artifact type</dt>, <dd key="atv">{manifest.artifactType}</dd>]}
            {!manifest.manifests && [<dt key="s">Size</dt>, <dd key="sv">{bytes(imageSize(loaded))}</dd>]}
            {manifest.subject && [
              <dt key="sub">Refers to</dt>,
              <dd key="subv">
                <a href={`#/r/${namePath(name)}/m/${encodeURIComponent(manifest.subject.digest)}`}>
                  <code>{shortDigest(manifest.subject.digest)}</code>
                </a>
              </dd>,
            ]}
          </dl>
          {canDelete && (
            <div class="buttons">
              {isTag && (
                <button type="button" class="danger" onClick={() => setConfirm('tag')}>
                  Delete tag {reference}
                </button>
              )}
              <button type="button" class="danger" onClick={() => setConfirm('manifest')}>
                Delete manifest
              </button>
            </div>
          )}
          <Commands session={session} name={name} reference={isTag ? reference : loaded.digest} />
          {manifest.manifests && <Platforms session={session} name={name} loaded={loaded} />}
          {manifest.config && <ConfigView session={session} name={name} descriptor={manifest.config} />}
          {manifest.layers && <Layers layers={manifest.layers} />}
          {manifest.annotations && (
            <section aria-labelledby="annotations-title">
              <h2 id="annotations-title">Annotations</h2>
              <Annotations annotations={manifest.annotations} />
            </section>
          )}
          <Referrers session={session} name={name} digest={loaded.digest} />
          <section aria-labelledby="raw-title">
            <h2 id="raw-title">Manifest</h2>
            {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard to be scrolled (axe: scrollable-region-focusable) */}
            <pre class="raw" tabIndex={0}>
              {JSON.stringify(manifest, null, 2)}
            </pre>
          </section>
        </>
      )}
      {confirm === 'tag' && (
        <Confirm
          title={`Delete tag ${reference}?`}
          action="Delete tag"
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => void remove('tag')}
        >
          <p>
            Only this tag goes.{' '}
            {tagsOfDigest.filter((tag) => tag !== reference).length > 0
              ? `These tags still name the image: ${tagsOfDigest.filter((tag) => tag !== reference).join(', ')}.`
              : ''}
          </p>
        </Confirm>
      )}
      {confirm === 'manifest' && (
        <Confirm
          title="Delete this manifest?"
          action="Delete manifest"
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => void remove('manifest')}
        >
          <p>
            The manifest {shortDigest(loaded?.digest)} goes
            {tagsOfDigest.length > 0 ? (
              <>
                , and with it these tags: <strong>{tagsOfDigest.join(', ')}</strong>
              </>
            ) : (
              ''
            )}
            .
          </p>
        </Confirm>
      )}
    </section>
  );
}
