// Integration and end-to-end tests start real infrastructure; each bounds its own waits, and this
// bounds a whole test or hook.
jest.setTimeout(Number(process.env.TEST_TIMEOUT_MS ?? 180_000));
