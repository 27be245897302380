/**
 * Types for the parts of `@alicloud/log` (Aliyun SLS SDK, plain JS, no typings) that the SLS
 * source uses. Read from node_modules/@alicloud/log/lib/client.js (1.2.x).
 */
declare module '@alicloud/log' {
  interface ClientConfig {
    accessKeyId: string;
    accessKeySecret: string;
    securityToken?: string;
    /** `cn-hangzhou`: endpoint `<region>.log.aliyuncs.com` when `endpoint` is absent. */
    region?: string;
    /** Host[:port], or a URL whose `http://` / `https://` scheme sets `use_https`. */
    endpoint?: string;
    /** Default false (plain http) unless the endpoint says `https://`. */
    use_https?: boolean;
    userAgent?: string;
  }

  /** Passed through to `httpx.request`. */
  interface RequestOptions {
    /** Connect and read timeout, ms (httpx default 3000). */
    timeout?: number;
    agent?: unknown;
    /** Last look at node:http request options before the request is made. */
    beforeRequest?: (options: Record<PropertyKey, unknown>) => Record<PropertyKey, unknown>;
  }

  /**
   * Errors thrown by the client: an SLS JSON error body becomes an Error with `code`
   * (`SignatureNotMatch`, `InternalServerError`…) and `requestid`; transport errors are node's
   * (`code` = `ECONNREFUSED`…) or httpx's (`name` = `RequestTimeoutError`).
   */
  class Client {
    constructor(config: ClientConfig);
    /**
     * GetLogs: GET /logstores/<logstore>?type=log&from&to&<data> on `<project>.<endpoint>`.
     * Resolves to the parsed JSON body only; the response's status and headers
     * (x-log-progress, x-log-count) are not returned.
     */
    getLogs(project: string, logstore: string, from: Date, to: Date, data?: Record<string, string | number>, options?: RequestOptions): Promise<unknown>;
  }
  export = Client;
}
