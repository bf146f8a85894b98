import { accessLogErrorObject, accessLogLevel } from '../../src/http/access-log.module';

describe('the access log', () => {
  describe(accessLogLevel.name, () => {
    it.each([
      [200, 'info'],
      [404, 'info'],
      [503, 'warn'],
      [500, 'error'],
      [502, 'error'],
    ] as const)('logs a %i at %s', (status, level) => {
      expect(accessLogLevel(status)).toBe(level);
    });

    it('logs a request that errored at error, whatever its status', () => {
      expect(accessLogLevel(503, new Error('socket hang up'))).toBe('error');
    });
  });

  describe(accessLogErrorObject.name, () => {
    it("leaves out the stack pino-http makes up for a 503 readiness answer", () => {
      const value = { res: { statusCode: 503 }, err: new Error('failed with status code 503'), responseTime: 3 };

      expect(accessLogErrorObject({}, value.err, value)).toEqual({ res: { statusCode: 503 }, responseTime: 3 });
    });

    it('keeps an error the response carries', () => {
      const thrown = new Error('failed with status code 500');
      const value = { res: { statusCode: 500 }, err: thrown, responseTime: 3 };

      expect(accessLogErrorObject({ err: thrown }, thrown, value)).toBe(value);
    });
  });
});
