/** Why a connection ended: retryable errors are retried with backoff, permanent ones stop the connector. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}
