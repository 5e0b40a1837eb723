/** Signing in with the registry's own users (HTTP Basic, or the built-in token server). */
import { useState } from 'preact/hooks';
import { signIn, type Session } from './api';
import { ErrorLine } from './components';

export function SignIn({ session, onSignedIn }: { session: Session; onSignedIn: (user: string) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  if (!session.signIn) {
    return (
      <p>
        {session.auth === 'none'
          ? 'Auth is off on this registry: there is nothing to sign in to.'
          : 'This registry signs in through an external token server, which this page does not call.'}
      </p>
    );
  }
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      await signIn(session, user, password);
      onSignedIn(user);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="sign-in-title" class="sign-in">
      <h1 id="sign-in-title">Sign in</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="user">User name</label>
        <input
          id="user"
          name="username"
          autocomplete="username"
          required
          value={user}
          onInput={(event) => setUser((event.target as HTMLInputElement).value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(event) => setPassword((event.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <ErrorLine error={error} />
    </section>
  );
}
