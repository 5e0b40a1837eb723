/** Small pieces the views share: copyable commands, confirmations, status lines. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { json, type Session } from './api';

/**
 * Loads JSON from the registry once the inputs have stopped changing for a moment (typing in a
 * search box); a newer request's answer always wins over an older one's.
 */
export function useDebouncedJson<T>(url: string, session: Session, generation = 0): { data?: T; error?: unknown } {
  const [state, setState] = useState<{ data?: T; error?: unknown }>({});
  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      json<T>(url, session).then(
        (data) => current && setState({ data }),
        (error: unknown) => current && setState((previous) => ({ data: previous.data, error })),
      );
    }, 150);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [url, session, generation]);
  return state;
}

/** A command with a button that copies it. */
export function CopyCommand({ label, command }: { label: string; command: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
    } catch {
      // Without the clipboard API (a page not served from a secure origin), select the text instead.
      const input = document.createElement('textarea');
      input.value = command;
      document.body.append(input);
      input.select();
      document.execCommand('copy');
      input.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  return (
    <div class="command">
      <span class="command-label">{label}</span>
      <code>{command}</code>
      <button type="button" onClick={copy} aria-label={`Copy the ${label} command`}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** A modal confirmation (the browser's own dialog element: focus and Escape are handled). */
export function Confirm({
  title,
  children,
  action,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ComponentChildren;
  action: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="confirm-title" onCancel={onCancel} class="confirm">
      <h2 id="confirm-title">{title}</h2>
      <div>{children}</div>
      <div class="buttons">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={onConfirm}>
          {action}
        </button>
      </div>
    </dialog>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

export function Loading() {
  return (
    <p class="muted" aria-live="polite">
      Loading…
    </p>
  );
}

/** Pages of a list: previous and next, with where we are. */
export function Pager({
  offset,
  size,
  total,
  onMove,
}: {
  offset: number;
  size: number;
  total: number;
  onMove: (offset: number) => void;
}) {
  if (total <= size) return null;
  const last = Math.min(offset + size, total);
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={offset === 0} onClick={() => onMove(Math.max(0, offset - size))}>
        Previous
      </button>
      <span>
        {offset + 1}–{last} of {total}
      </span>
      <button type="button" disabled={last >= total} onClick={() => onMove(offset + size)}>
        Next
      </button>
    </nav>
  );
}
