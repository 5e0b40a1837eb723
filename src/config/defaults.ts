/**
 * The embedded default configuration: what `berth serve` (and `npm start`) uses without a file.
 * Filesystem storage in ./data, deletion on, port 5000: a registry that works on a laptop.
 */
export const DEFAULT_CONFIG_YAML = `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ./data
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
`;
