/** One entry of a FastAPI-style validation detail. */
export interface ValidationIssue {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

/**
 * An HTTP answer other than success, raised where the problem is found and rendered as
 * `{"detail": ...}`. A 422's detail is always a list of {loc, msg, type}; other details are strings.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string | ValidationIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : detail.map((issue) => issue.msg).join('; '));
  }

  static unprocessable(issues: ValidationIssue[]): HttpError {
    return new HttpError(422, issues);
  }

  static notFound(detail = 'Not Found'): HttpError {
    return new HttpError(404, detail);
  }

  static methodNotAllowed(allowed: string[]): HttpError {
    return new HttpError(405, 'Method Not Allowed', { allow: allowed.join(', ') });
  }
}

/** Throws 405 unless the route answers this method. */
export function allow(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw HttpError.methodNotAllowed(allowed);
}
