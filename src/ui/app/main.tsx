/**
 * The web UI: a page of the registry itself (src/http/routes/ui.ts serves it), reading the
 * registry through `/v2/` and `/_berth/api/`. Views are chosen by the URL's fragment, so the
 * server serves one page:
 *   #/                         repositories          #/r/<name>            its tags
 *   #/r/<name>/m/<reference>   one manifest          #/storage             bytes stored, GC
 *   #/sign-in                  sign in
 */
import { render, type VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadSession, signedInUser, signOut, type Session } from './api';
import { ErrorLine, Loading } from './components';
import { Image } from './image';
import { Repositories } from './repositories';
import { Repository } from './repository';
import { SignIn } from './sign-in';
import { Storage } from './storage';
import './style.css';

type View =
  | { kind: 'repositories' }
  | { kind: 'repository'; name: string }
  | { kind: 'image'; name: string; reference: string }
  | { kind: 'storage' }
  | { kind: 'sign-in' };

function viewOf(hash: string): View {
  const path = decodeURIComponent(hash.replace(/^#/, '')) || '/';
  if (path === '/storage') return { kind: 'storage' };
  if (path === '/sign-in') return { kind: 'sign-in' };
  const image = /^\/r\/(.+)\/m\/([^/]+)$/.exec(path);
  if (image) return { kind: 'image', name: image[1]!, reference: image[2]! };
  const repository = /^\/r\/(.+)$/.exec(path);
  if (repository) return { kind: 'repository', name: repository[1]! };
  return { kind: 'repositories' };
}

const THEME_KEY = 'berth.theme';

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(
    () => localStorage.getItem(THEME_KEY) ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'),
  );
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return [theme, () => setTheme((current) => (current === 'dark' ? 'light' : 'dark'))];
}

function App() {
  const [session, setSession] = useState<Session>();
  const [error, setError] = useState<unknown>();
  const [view, setView] = useState(() => viewOf(location.hash));
  const [user, setUser] = useState(signedInUser());
  const [theme, toggleTheme] = useTheme();
  useEffect(() => {
    const onHash = () => setView(viewOf(location.hash));
    addEventListener('hashchange', onHash);
    loadSession().then(setSession, setError);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  // Focus the new view's heading, so keyboard and screen reader users know the page changed.
  useEffect(() => {
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [view, session]);

  let content: VNode;
  if (error) content = <ErrorLine error={error} />;
  else if (!session) content = <Loading />;
  else if (view.kind === 'repository')
    content = <Repository key={`${user}${view.name}`} session={session} name={view.name} />;
  else if (view.kind === 'image')
    content = (
      <Image
        key={`${user}${view.name}${view.reference}`}
        session={session}
        name={view.name}
        reference={view.reference}
      />
    );
  else if (view.kind === 'storage') content = <Storage key={user} session={session} />;
  else if (view.kind === 'sign-in')
    content = (
      <SignIn
        session={session}
        onSignedIn={(name) => {
          setUser(name);
          location.hash = '#/';
        }}
      />
    );
  else content = <Repositories key={user} session={session} />;

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Berth
        </a>
        <nav aria-label="Main">
          <a href="#/">Repositories</a>
          <a href="#/storage">Storage</a>
        </nav>
        <div class="session">
          {session?.signIn &&
            (user ? (
              <>
                <span class="user">
                  Signed in as <strong>{user}</strong>
                </span>
                <button
                  type="button"
                  onClick={() => {
                    signOut();
                    setUser(undefined);
                    location.hash = '#/';
                  }}
                >
                  Sign out
                </button>
              </>
            ) : (
              <a href="#/sign-in" class="button">
                Sign in
              </a>
            ))}
          <button
            type="button"
            onClick={toggleTheme}
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
          >
            {theme === 'dark' ? 'Light' : 'Dark'}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
