/** Host names and addresses. */

/**
 * A loopback host: `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8 or ::1, with or
 * without IPv6 brackets, in any case. Registries on such hosts speak plain HTTP (as Docker's
 * default insecure 127.0.0.0/8); the API server listens on them without `--allow-remote`.
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h.endsWith('.localhost');
}
