/** `profile-change.v1` events as a brand's service would publish them (DESIGN 4.1). */

export interface ProfileChangeEvent {
  event_id?: unknown;
  occurred_at?: unknown;
  key?: unknown;
  profile?: unknown;
  [extra: string]: unknown;
}

export function aProfile(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    display_name: 'Amy Lin',
    display_email: 'Amy@Example.com',
    display_mobile: '0912-345-678',
    birthday: '1990-04-01',
    gender: null,
    custom: { points: 120, tier: 'gold' },
    ...overrides,
  };
}

export function aProfileChange(overrides: ProfileChangeEvent = {}): ProfileChangeEvent {
  return {
    event_id: '01JD8ZQ7N3X4Y5Z6A7B8C9D0EF',
    occurred_at: '2026-11-28T10:15:30.123Z',
    key: { customer_id: 'C-1001' },
    profile: aProfile(),
    ...overrides,
  };
}

export function toMessage(event: unknown): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}
