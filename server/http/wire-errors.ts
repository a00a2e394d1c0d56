/**
 * Every error a client can see has a class here: an HTTP status, a stable machine code, a public
 * message a user can act on, and a `detail` that goes to the log only.
 */
export abstract class WireError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  abstract readonly publicMessage: string;
  constructor(readonly detail?: string) {
    super(detail);
  }
  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.publicMessage } };
  }
}

export class NotSignedIn extends WireError {
  readonly status = 401;
  readonly code = 'not_signed_in';
  readonly publicMessage = 'You are not signed in, or your session has ended. Sign in again.';
}

export class OriginRejected extends WireError {
  readonly status = 403;
  readonly code = 'origin_rejected';
  readonly publicMessage = 'This request did not come from the Drawbridge page. Reload the page and try again.';
}

export class CsrfRejected extends WireError {
  readonly status = 403;
  readonly code = 'csrf_rejected';
  readonly publicMessage = 'This request is missing its page token. Reload the page and try again.';
}

export class AppNotFound extends WireError {
  readonly status = 404;
  readonly code = 'app_not_found';
  readonly publicMessage = 'There is no such desktop. It may have been removed; go back to your desktops.';
}

export class RouteNotFound extends WireError {
  readonly status = 404;
  readonly code = 'not_found';
  readonly publicMessage = 'Not found.';
}

export class SignInFailed extends WireError {
  readonly status = 401;
  readonly code = 'sign_in_failed';
  readonly publicMessage = 'Sign-in did not complete. Start again; if it keeps failing, tell your administrator.';
}

export class TenantNotAllowed extends WireError {
  readonly status = 403;
  readonly code = 'tenant_not_allowed';
  readonly publicMessage = 'Your organisation is not allowed to use this gateway.';
}

export class IdentityProviderUnavailable extends WireError {
  readonly status = 503;
  readonly code = 'idp_unavailable';
  readonly publicMessage = 'The sign-in service cannot be reached right now. Try again in a minute.';
}

/** Errors whose public message is chosen where they are raised (a validation, a policy decision). */
abstract class WordedError extends WireError {
  readonly publicMessage: string;
  constructor(publicMessage: string, detail?: string) {
    super(detail);
    this.publicMessage = publicMessage;
  }
}

export class BadRequest extends WordedError {
  readonly status = 400;
  readonly code = 'bad_request';
}

export class AccessDenied extends WordedError {
  readonly status = 403;
  readonly code = 'access_denied';
}

export class PurposeRequired extends WordedError {
  readonly status = 403;
  readonly code = 'purpose_required';
}

export class ReauthRequired extends WordedError {
  readonly status = 401;
  readonly code = 'reauth_required';
}

export class InternalError extends WireError {
  readonly status = 500;
  readonly code = 'internal_error';
  readonly publicMessage = 'Something went wrong on the gateway. Try again; if it keeps happening, tell your administrator.';
}

export class AdminOnly extends WireError {
  readonly status = 403;
  readonly code = 'admin_only';
  readonly publicMessage = 'Only Drawbridge administrators can see this.';
}

export class RecordingNotFound extends WireError {
  readonly status = 404;
  readonly code = 'recording_not_found';
  readonly publicMessage = 'There is no such recording. It may have been removed by the retention rules.';
}
