/** A refused token request: the HTTP status and the OAuth2 error code (RFC 6749 §5.2) it answers with. */
export class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    /** OAuth2 error code (RFC 6749 §5.2). */
    readonly oauth: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'TokenRequestError';
  }
}

export const badTokenRequest = (message: string) => new TokenRequestError(400, 'invalid_request', message);
