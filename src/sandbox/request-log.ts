import { isoTime } from './iso-time';

/**
 * One request to a Profile API path, logged at arrival. `status` is the final answer, or 0 while
 * unanswered and for a request that never got one (hung or dropped). The api key itself is never
 * kept, only its position in SANDBOX_API_KEYS.
 */
export interface LoggedRequest {
  at: number;
  method: string;
  path: string;
  status: number;
  rows?: number;
  task_id?: string;
  api_key_index?: number;
}

export class RequestLog {
  private entries: LoggedRequest[] = [];

  arrive(method: string, path: string, at: number): LoggedRequest {
    const entry: LoggedRequest = { at, method, path, status: 0 };
    this.entries.push(entry);
    return entry;
  }

  toJSON(): Array<Omit<LoggedRequest, 'at'> & { at: string }> {
    return this.entries.map((entry) => ({ ...entry, at: isoTime(entry.at) }));
  }

  clear(): void {
    this.entries = [];
  }
}
